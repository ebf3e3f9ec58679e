package main

import (
	"context"
	"errors"
	"io"
)

func runGoals(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	return errors.New("todo")
}
