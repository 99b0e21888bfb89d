<?php
// The application bench/upgrade.py reloads under PHP-FPM, the equivalent
// of tests/apps/upgradeapp: GET answers the version, POST echoes its body.
// bench/upgrade.py writes it with @VERSION@ replaced by "a" or "b".
header('Content-Type: text/plain');
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    echo file_get_contents('php://input');
} else {
    echo "@VERSION@\n";
}
