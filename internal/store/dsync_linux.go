package store

import "syscall"

// dsyncFlag opens the replay journal so that each write returns once its
// data (and the file size) are on disk: one flush per batch.
const dsyncFlag = syscall.O_DSYNC
