<?php
// What the TechEmpower scripts share: the persistent PDO connection of
// this PHP-FPM child (bench/tfb.py sets TFB_DSN in the pool's
// environment) and the `queries` parameter as the rules read it.
function tfb_pdo(): PDO
{
    return new PDO(getenv('TFB_DSN'), null, null, [PDO::ATTR_PERSISTENT => true]);
}

function tfb_queries(): int
{
    $n = (int)($_GET['queries'] ?? 1);
    return $n < 1 ? 1 : ($n > 500 ? 500 : $n);
}
