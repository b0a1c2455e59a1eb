//go:build !linux

package store

// dsyncFlag is 0 where O_DSYNC is not used: each journal write is followed
// by a Sync.
const dsyncFlag = 0
