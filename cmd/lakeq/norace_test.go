//go:build !race

package main

// raceEnabled reports that the tests run under the race detector, so the
// binary they start is built with it too.
const raceEnabled = false
