<?php
// hello for PHP-FPM: the same answer as apps/hello.
header('Content-Type: text/plain');
echo "hello\n";
