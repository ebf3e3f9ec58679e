// Package goals measures mvkv's performance goals on this machine, side by
// side with bbolt (durable commits, point reads, scans, storage) or with
// mvkv's own snapshot level (serializable's cost): Measure returns each
// goal's figures, target and whether it was met.
package goals
