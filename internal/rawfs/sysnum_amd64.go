package rawfs

import "golang.org/x/sys/unix"

// rawSupported: the raw calls are written for this architecture's
// system call table and struct stat.
const rawSupported = true

// sysFstatat is fstatat(2) with this architecture's struct stat.
const sysFstatat = unix.SYS_NEWFSTATAT
