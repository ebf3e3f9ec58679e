// Package goals measures mvkv's performance goals on this machine, side by
// side with bbolt (durable commits, point reads, scans, storage) or with
// mvkv's own snapshot level (serializable's cost), and how reads and
// serializable transactions scale with cores (at 16 cores against one core
// and against bbolt; unjudged on a machine with fewer): Measure returns
// each goal's figures, target and whether it was met.
package goals
