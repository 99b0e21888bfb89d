<?php
require __DIR__ . '/tfb.php';
// TechEmpower /db, in the style of their PHP implementation: raw PDO, a
// persistent connection per PHP-FPM child, a prepared statement.
header('Content-Type: application/json');
$pdo = tfb_pdo();
$s = $pdo->prepare('SELECT id, randomnumber FROM world WHERE id = ?');
$s->execute([mt_rand(1, 10000)]);
$w = $s->fetch(PDO::FETCH_NUM);
echo json_encode(['id' => (int)$w[0], 'randomNumber' => (int)$w[1]]);
