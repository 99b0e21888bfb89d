<?php
require __DIR__ . '/tfb.php';
// TechEmpower /updates: N rows read one by one, each updated with a new
// random number by its own UPDATE (as their PHP implementation does).
header('Content-Type: application/json');
$n = tfb_queries();
$pdo = tfb_pdo();
$s = $pdo->prepare('SELECT id, randomnumber FROM world WHERE id = ?');
$u = $pdo->prepare('UPDATE world SET randomnumber = ? WHERE id = ?');
$out = [];
for ($i = 0; $i < $n; $i++) {
    $s->execute([mt_rand(1, 10000)]);
    $w = $s->fetch(PDO::FETCH_NUM);
    $r = mt_rand(1, 10000);
    $u->execute([$r, (int)$w[0]]);
    $out[] = ['id' => (int)$w[0], 'randomNumber' => $r];
}
echo json_encode($out);
