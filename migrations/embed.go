// Package migrations embeds the goose SQL migrations, one folder per
// database dialect. Both folders hold the same version numbers: a version is
// one schema change, written once for each dialect. Migrations are frozen
// once landed: change the schema by adding the next number to both folders.
package migrations

import "embed"

// Postgres holds the PostgreSQL migrations under "postgres/".
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the SQLite migrations under "sqlite/".
//
//go:embed sqlite/*.sql
var SQLite embed.FS
