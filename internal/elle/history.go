package elle

import (
	"fmt"
	"strings"
)

// OpKind says whether an Op reads a list or appends to it.
type OpKind uint8

const (
	// Read observes the whole list of a key.
	Read OpKind = iota
	// Append adds one element at the end of a key's list.
	Append
)

// Op is one micro-operation of a transaction.
type Op struct {
	Kind OpKind
	Key  string
	// Value is the element an Append adds. Elements must be unique per key
	// across the whole history.
	Value int
	// List is what a Read observed, oldest element first; nil or empty
	// means the key was absent.
	List []int
}

// R is a Read of key that observed list.
func R(key string, list []int) Op { return Op{Kind: Read, Key: key, List: list} }

// A is an Append of value to key.
func A(key string, value int) Op { return Op{Kind: Append, Key: key, Value: value} }

func (o Op) String() string {
	if o.Kind == Append {
		return fmt.Sprintf("append(%s,%d)", o.Key, o.Value)
	}
	return fmt.Sprintf("r(%s)=%v", o.Key, o.List)
}

// Status is a transaction's outcome as the client saw it.
type Status uint8

const (
	// OK: the transaction committed.
	OK Status = iota
	// Failed: the transaction certainly did not commit (it was rolled back
	// or its commit was refused with a conflict).
	Failed
	// Unknown: the outcome is not known (the commit returned an error that
	// does not say). Its appends may or may not be visible; its reads are
	// not trusted.
	Unknown
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Failed:
		return "fail"
	}
	return "info"
}

// Txn is one transaction of the history: its operations in the order it
// performed them, with what its reads returned.
type Txn struct {
	// ID names the transaction in reports; IDs must be unique.
	ID     int
	Status Status
	Ops    []Op
}

func (t Txn) String() string {
	parts := make([]string, len(t.Ops))
	for i, o := range t.Ops {
		parts[i] = o.String()
	}
	return fmt.Sprintf("T%d(%s) %s", t.ID, t.Status, strings.Join(parts, " "))
}

// History is every transaction a test ran, in any order.
type History []Txn
