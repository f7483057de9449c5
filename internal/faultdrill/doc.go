// Package faultdrill holds the fault drills of `make test-faults` (its
// code is all in the _test files): the idsync binary, built once, runs
// `idsync sync --apply` and `idsync serve` as subprocesses against a
// private slapd and a PostgreSQL database, is interrupted at the fault
// points of internal/faultinject (SIGKILL, SIGTERM), by a PostgreSQL
// restart (a private server from internal/store/pgtest), by the loss of
// its lock's connection, by a directory that misbehaves (a loopback proxy
// in front of slapd) or by a product that is down; then it runs again to
// completion, and the database contents are compared with those of one
// clean, uninterrupted run. See docs/faults.md.
package faultdrill
