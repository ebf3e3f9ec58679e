// Package report folds runs into summaries and writes them.
//
// One run proves little on a shared machine, so a cell (workload, threads,
// engine, level) is run for several rounds: Summarize folds them into a
// Summary of medians with their range (min–max), and Ties names the rows
// whose ranges overlap, which the rounds cannot rank. A Report carries the
// summaries, every run, and the Meta needed to read them later (settings,
// Go version, CPUs, commit, date); WriteTable, WriteJSON, WriteCSV,
// WritePlots and WriteHTML (one self-contained page) write it. Charts mark
// every cell whose invariant failed; runs of five seconds or more also get
// their second-by-second p99 drawn (the runner's Timeline).
package report
