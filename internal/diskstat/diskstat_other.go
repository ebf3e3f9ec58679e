//go:build !linux

package diskstat

// For is nil where the system does not count a device's writes as Linux's
// /proc/diskstats does.
func For(string) Counter { return nil }
