package pgserver_test

import "github.com/jackc/pgx/v5/pgconn"

type pgconnError struct{ code, msg string }

func (e *pgconnError) err() error { return &pgconn.PgError{Code: e.code, Message: e.msg} }
