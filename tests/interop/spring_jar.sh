#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Prints the path of tests/interop/spring's jar (the Spring Boot consumer and LogVerifier),
# building it first when it is missing or older than its sources or schemas/ (Maven Central's
# dependencies are cached in ~/.m2; .ci/install-deps builds it once).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
jar="$HERE/spring/target/cairn-spring-interop.jar"
if [[ ! -f "$jar" || -n "$(find "$HERE/spring/src" "$HERE/spring/pom.xml" "$HERE/../../schemas" \
      -newer "$jar" -print -quit)" ]]; then
  log=$(mktemp)
  mvn -q -B -f "$HERE/spring/pom.xml" package -DskipTests >"$log" 2>&1 ||
    { echo "building the Java consumers of tests/interop/spring failed:" >&2; tail -30 "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
fi
echo "$jar"
