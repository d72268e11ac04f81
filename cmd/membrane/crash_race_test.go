//go:build race

package main

// raceEnabled: the test binary runs under the race detector, and so do
// the servers it starts.
const raceEnabled = true
