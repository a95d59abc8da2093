//go:build race

package dicomscan

const raceEnabled = true
