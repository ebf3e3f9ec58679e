package pgserver_test

import "github.com/jackc/pgx/v5/pgconn"

// pgconnError is a server error as pgx reports it: its SQLSTATE, message
// and the server's source file that raised it.
type pgconnError struct{ code, msg, file string }

func (e *pgconnError) err() error {
	return &pgconn.PgError{Code: e.code, Message: e.msg, File: e.file}
}
