package anomalies

import (
	"fmt"
	"strings"
)

// Write skew: two transactions read overlapping data, each decides on what
// it read, and each writes something the other read. Doctors on call is
// the item version, the meeting room the range version.

const onCall = "oncall/"

// offCall is Alice's or Bob's decision: go off call if at least two doctors
// are on call according to what the session read, else stay.
func offCall(session, doctor string) Step {
	return Do(session, doctor+" off if ≥2 on call", func(s *Session) (string, error) {
		n := 0
		for _, kv := range s.SeenPrefix(onCall) {
			if kv.Value == "on" {
				n++
			}
		}
		if n < 2 {
			s.Note("decision", "stay")
			return fmt.Sprintf("%d on call: stays", n), nil
		}
		s.Note("decision", "off")
		s.Note("doctor", doctor)
		return fmt.Sprintf("%d on call: off", n), s.Tx.Put([]byte(onCall+doctor), []byte("off"))
	})
}

// rewrite writes back the value the session read for key: an update that
// changes nothing but makes the read a write.
func rewrite(session, key string) Step {
	return Do(session, "rewrite "+key+" as read", func(s *Session) (string, error) {
		v, ok := s.Seen(key)
		if !ok {
			return "", fmt.Errorf("%w: %s rewrites %s without reading it", ErrBadScenario, s.Name, key)
		}
		return v, s.Tx.Put([]byte(key), []byte(v))
	})
}

var doctorsSetup = []KV{{onCall + "alice", "on"}, {onCall + "bob", "on"}}

// WriteSkew is G2-item: doctors on call.
var WriteSkew = &Anomaly{
	Name:    "write skew",
	Code:    "G2-item",
	Test:    "TestWriteSkew",
	Promise: "at least one doctor stays on call",
	Story: "Alice and Bob are the two doctors on call tonight; the rule is that at least " +
		"one stays on call. Both feel unwell and, at the same moment, ask the app to take " +
		"them off call (Alice is T1, Bob is T2). The app reads who is on call and lets the " +
		"doctor go only if at least two are.",
	Scenario: Scenario{
		Setup: doctorsSetup,
		Steps: []Step{
			Read("T1", onCall+"alice"),
			Read("T1", onCall+"bob"),
			Read("T2", onCall+"alice"),
			Read("T2", onCall+"bob"),
			offCall("T1", "alice"),
			offCall("T2", "bob"),
			Commit("T1"),
			Commit("T2"),
		},
	},
	Check: checkOnCall,
	Lesson: "Write skew: each transaction checked the rule on the same data (two doctors " +
		"on call), then changed a different row, so no two writes touch the same key and " +
		"nothing stops them: together they break a rule that each one kept. Read committed " +
		"allows it, and so does snapshot: first-committer-wins only compares what was " +
		"written, and Alice and Bob wrote different rows. Serializable prevents it: SSI " +
		"tracks what each transaction read and notices that each one read a row the other " +
		"wrote (a cycle of read-write dependencies, impossible in any serial order), so it " +
		"aborts one of them with ErrConflict; its retry sees one doctor on call and stays. " +
		"At snapshot the fixes are by hand: lock the rows the decision depends on " +
		"(TestWriteSkewFixedWithGetForUpdate) or write them (TestWriteSkewFixedByWritingReads). " +
		"Serializable by locking (two-phase locking, the column serializable-locking) prevents " +
		"it the other way: each read took a shared lock held to the end, so T1's write waits " +
		"for T2's lock on alice, and T2's write, waiting for T1's lock on bob, would close a " +
		"cycle: T2 is the deadlock victim, at once, and T1 resumes and commits. The two ways " +
		"compared: SSI never makes a reader or a writer wait and pays with aborts at commit " +
		"when a dangerous structure forms; locking aborts only to break a deadlock, and pays " +
		"with waits: every reader blocks every writer of what it read.",
}

// WriteSkewFixedWithGetForUpdate reads the doctors with GetForUpdate.
var WriteSkewFixedWithGetForUpdate = &Anomaly{
	Name:    "write skew, fixed with GetForUpdate",
	Test:    "TestWriteSkewFixedWithGetForUpdate",
	Promise: "at least one doctor stays on call, and a doctor let off call stays off",
	Fix:     true,
	Story: "The same two doctors, but the app reads who is on call with GetForUpdate, " +
		"locking each row it reads (in the same order, Alice then Bob, in both " +
		"transactions: locking in different orders could deadlock).",
	Scenario: Scenario{
		Setup: doctorsSetup,
		Steps: []Step{
			ReadForUpdate("T1", onCall+"alice"),
			ReadForUpdate("T1", onCall+"bob"),
			ReadForUpdate("T2", onCall+"alice"),
			offCall("T1", "alice"),
			Commit("T1"),
			ReadForUpdate("T2", onCall+"bob"),
			offCall("T2", "bob"),
			Commit("T2"),
		},
	},
	Check: checkOnCall,
	Lesson: "Locking the rows the decision reads turns the write skew into a queue: Bob's " +
		"app waits at its first read until Alice's transaction ends. At read committed it " +
		"then reads Alice as off call, counts one doctor and keeps Bob on call. At snapshot " +
		"and serializable Bob's snapshot predates Alice's change, so the read gets " +
		"ErrConflict instead, and the retry sees the new state. Either way one doctor stays " +
		"on call, at every level.",
}

// WriteSkewFixedByWritingReads makes each doctor's transaction rewrite the
// other doctor's row.
var WriteSkewFixedByWritingReads = &Anomaly{
	Name:    "write skew, fixed by writing the rows read",
	Test:    "TestWriteSkewFixedByWritingReads",
	Promise: "at least one doctor stays on call, and a doctor let off call stays off",
	Fix:     true,
	Story: "The same two doctors, but when the app takes a doctor off call it also writes " +
		"back the other doctor's row unchanged, so that the row its decision depends on is " +
		"one it writes.",
	Scenario: Scenario{
		Setup: doctorsSetup,
		Steps: []Step{
			Read("T1", onCall+"alice"),
			Read("T1", onCall+"bob"),
			Read("T2", onCall+"alice"),
			Read("T2", onCall+"bob"),
			offCall("T1", "alice"),
			rewrite("T1", onCall+"bob"),
			offCall("T2", "bob"),
			rewrite("T2", onCall+"alice"),
			Commit("T1"),
			Commit("T2"),
		},
	},
	Check: checkOnCall,
	Lesson: "Writing the rows a decision reads makes the two transactions write the same " +
		"keys, so snapshot's first-committer-wins sees the conflict: Bob's commit fails with " +
		"ErrConflict and his retry keeps him on call. It works at snapshot and serializable " +
		"only. At read committed it makes things worse: there is no write-write check, the " +
		"last committer wins, and Bob's rewrite of Alice's row puts her back on call after " +
		"she was told she was off: the write skew became a lost update. At read committed " +
		"use GetForUpdate instead.",
}

// checkOnCall: at least one doctor stays on call, and every doctor whose
// committed transaction took them off call is off call.
func checkOnCall(o *Outcome) (bool, string) {
	var on []string
	for _, kv := range o.Prefix(onCall) {
		if kv.Value == "on" {
			on = append(on, strings.TrimPrefix(kv.Key, onCall))
		}
	}
	state := "nobody is on call"
	switch len(on) {
	case 1:
		state = "only " + on[0] + " is on call"
	case 2:
		state = on[0] + " and " + on[1] + " are on call"
	}
	for _, s := range []string{"T1", "T2"} {
		if o.Committed(s) && o.Note(s, "decision") == "off" {
			d := o.Note(s, "doctor")
			if o.Get(onCall+d) != "off" {
				return true, fmt.Sprintf("%s committed taking %s off call, yet %s is on call again: "+
					"the other transaction overwrote the decision (%s)", s, d, d, state)
			}
		}
	}
	if len(on) == 0 {
		return true, "both transactions committed and " + state
	}
	return false, state + stopped(o, "T1", "T2")
}

// Meeting-room booking: the write skew over a range, where the rows that
// would conflict do not exist yet.

const room = "booking/room123/"

// lookAtRoom scans the room's bookings: the predicate read.
func lookAtRoom(session string) Step { return Scan(session, room) }

// book inserts the booking [from, to) for who if, by the session's last
// scan of the room, nothing overlaps it. Times are "HH:MM"; the key is
// room + from + "-" + to.
func book(session, who, from, to string) Step {
	return Do(session, "if "+from+"-"+to+" free: book it", func(s *Session) (string, error) {
		for _, kv := range s.SeenPrefix(room) {
			slot := strings.TrimPrefix(kv.Key, room)
			f, t, _ := strings.Cut(slot, "-")
			if f < to && from < t {
				s.Note("decision", "refused")
				return "overlaps " + slot + ": not booked", nil
			}
		}
		s.Note("decision", "booked")
		return "booked", s.Tx.Put([]byte(room+from+"-"+to), []byte(who))
	})
}

// WriteSkewRange is G2 with inserts: two overlapping bookings.
var WriteSkewRange = &Anomaly{
	Name:    "write skew over a range (double booking)",
	Code:    "G2",
	Test:    "TestWriteSkewRange",
	Promise: "the room is never booked twice at once",
	Story: "Meeting room 123 is booked 09:00-10:00 by Carol. Alice (T1) wants it " +
		"12:00-13:00 and Bob (T2) 12:30-13:30. The booking app lists the room's bookings, " +
		"checks that none overlaps the wanted time, and inserts the booking. The room must " +
		"never be booked twice at once.",
	Scenario: Scenario{
		Setup: []KV{{room + "09:00-10:00", "carol"}},
		Steps: []Step{
			lookAtRoom("T1"),
			lookAtRoom("T2"),
			book("T1", "alice", "12:00", "13:00"),
			book("T2", "bob", "12:30", "13:30"),
			Commit("T1"),
			Commit("T2"),
		},
	},
	Check: checkBookings,
	Lesson: "This write skew involves phantoms: each transaction searched for a " +
		"conflicting booking, found none, and inserted a row that the other's search would " +
		"have found. No existing row was written by both, and the rows that clash did not " +
		"exist when the searches ran, so there is no row to lock and nothing for " +
		"first-committer-wins to compare: read committed and snapshot both double-book the " +
		"room. Serializable prevents it: SSI remembers the range each transaction scanned " +
		"and sees that each inserted into the other's range, so it aborts one with " +
		"ErrConflict; serializable by locking locks the scanned ranges, and the second " +
		"insert into a range the other holds would close a lock cycle (a deadlock victim). " +
		"At snapshot the fix by hand is to materialize the conflict: make rows " +
		"that both transactions must touch (one per room and half-hour slot) and lock or " +
		"write them (TestWriteSkewRangeFixedByMaterializing).",
}

// slot keys for the materialized conflict: one row per half hour.
const slots = "slot/room123/"

// bookSlots books [from, to) for who if every half-hour slot row the
// session read in that time is free: it writes the slots and the booking.
func bookSlots(session, who, from, to string, halfHours ...string) Step {
	return Do(session, "if slots free: book "+from+"-"+to, func(s *Session) (string, error) {
		for _, h := range halfHours {
			if v, _ := s.Seen(slots + h); v != "free" {
				s.Note("decision", "refused")
				return h + " taken by " + v + ": not booked", nil
			}
		}
		for _, h := range halfHours {
			if err := s.Tx.Put([]byte(slots+h), []byte(who)); err != nil {
				return "", err
			}
		}
		s.Note("decision", "booked")
		return "booked", s.Tx.Put([]byte(room+from+"-"+to), []byte(who))
	})
}

// WriteSkewRangeFixedByMaterializing books through slot rows locked with
// GetForUpdate.
var WriteSkewRangeFixedByMaterializing = &Anomaly{
	Name:    "double booking, fixed by materializing the conflict",
	Test:    "TestWriteSkewRangeFixedByMaterializing",
	Promise: "the room is never booked twice at once",
	Fix:     true,
	Story: "The same bookings (Alice 12:00-13:00, Bob 12:30-13:30), but the room's day is " +
		"also stored as one row per half hour, created in advance as free. A booking locks " +
		"its slot rows with GetForUpdate, checks they are free, marks them taken, and " +
		"inserts the booking.",
	Scenario: Scenario{
		Setup: []KV{
			{room + "09:00-10:00", "carol"},
			{slots + "12:00", "free"}, {slots + "12:30", "free"}, {slots + "13:00", "free"},
		},
		Steps: []Step{
			ReadForUpdate("T1", slots+"12:00"),
			ReadForUpdate("T1", slots+"12:30"),
			ReadForUpdate("T2", slots+"12:30"),
			bookSlots("T1", "alice", "12:00", "13:00", "12:00", "12:30"),
			Commit("T1"),
			ReadForUpdate("T2", slots+"13:00"),
			bookSlots("T2", "bob", "12:30", "13:30", "12:30", "13:00"),
			Commit("T2"),
		},
	},
	Check: checkBookings,
	Lesson: "Materializing the conflict turns the phantom into rows: two bookings that " +
		"overlap now both touch the 12:30 slot row. Bob's lock on it waits for Alice's " +
		"transaction; at read committed he then reads the slot as taken and books nothing; " +
		"at snapshot and serializable his snapshot is too old and he gets ErrConflict. " +
		"Prevented at every level. (At snapshot, merely writing the slot rows without " +
		"GetForUpdate would already be caught by first-committer-wins at commit.) The price " +
		"is a table of slots to create and keep in step with the bookings; serializable " +
		"gets the same protection without it.",
}

// checkBookings: no two committed bookings of the room overlap.
func checkBookings(o *Outcome) (bool, string) {
	bookings := o.Prefix(room)
	var list []string
	for _, kv := range bookings {
		list = append(list, kv.Value+" "+strings.TrimPrefix(kv.Key, room))
	}
	state := "the room is booked by " + strings.Join(list, ", ")
	for i, a := range bookings {
		af, at, _ := strings.Cut(strings.TrimPrefix(a.Key, room), "-")
		for _, b := range bookings[i+1:] {
			bf, bt, _ := strings.Cut(strings.TrimPrefix(b.Key, room), "-")
			if af < bt && bf < at {
				return true, fmt.Sprintf("%s: %s and %s overlap", state, a.Value, b.Value)
			}
		}
	}
	return false, state + stopped(o, "T1", "T2")
}
