<?php
require __DIR__ . '/tfb.php';
// TechEmpower /fortunes: every row, one more added, sorted, escaped.
header('Content-Type: text/html; charset=utf-8');
$pdo = tfb_pdo();
$f = $pdo->query('SELECT id, message FROM fortune')->fetchAll(PDO::FETCH_KEY_PAIR);
$f[0] = 'Additional fortune added at request time.';
asort($f, SORT_STRING);
echo '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>',
     '<tr><th>id</th><th>message</th></tr>';
foreach ($f as $id => $m) {
    echo '<tr><td>', $id, '</td><td>', htmlspecialchars($m, ENT_QUOTES, 'UTF-8'), '</td></tr>';
}
echo '</table></body></html>';
