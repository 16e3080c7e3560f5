#!/bin/sh
# JMH microbenchmarks of the hot paths (header parsing, encryption and armor, PGP/MIME
# composition, spooling). Arguments go to JMH, e.g. bench/jmh.sh -f 1 -wi 2 -i 3 parseHeader
set -eu
cd "$(dirname "$0")/.."
mvn -q -B -DskipTests test-compile
mvn -q -B dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/jmh.classpath >/dev/null
exec java -cp "target/classes:target/test-classes:$(cat target/jmh.classpath)" org.openjdk.jmh.Main "org.cryptforward.bench" "$@"
