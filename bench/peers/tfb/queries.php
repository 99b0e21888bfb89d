<?php
require __DIR__ . '/tfb.php';
// TechEmpower /queries: N rows (1..500), each by its own query.
header('Content-Type: application/json');
$n = tfb_queries();
$pdo = tfb_pdo();
$s = $pdo->prepare('SELECT id, randomnumber FROM world WHERE id = ?');
$out = [];
for ($i = 0; $i < $n; $i++) {
    $s->execute([mt_rand(1, 10000)]);
    $w = $s->fetch(PDO::FETCH_NUM);
    $out[] = ['id' => (int)$w[0], 'randomNumber' => (int)$w[1]];
}
echo json_encode($out);
