// Package hugeheap backs the heap of a short-lived, allocation-heavy
// process with transparent huge pages.
//
// Each first touch of a 4 KiB page of fresh memory is a page fault, and on
// the virtual machines we measure on a fault costs about 15 µs: a cold
// `skupperd reconcile` of 1,000 pairs took some 3,500 of them in its heap
// alone, a third of its CPU time. A 2 MiB transparent huge page takes one
// fault for 512 pages. The Go runtime does not ask for huge pages, and the
// kernel's usual setting ("madvise") gives them only to memory a process
// advised with MADV_HUGEPAGE.
//
// Reserve makes the heap grow by a large block at once, advises that
// block, and frees it with a collection: the allocations that follow take
// the block's pages first (the runtime reuses the lowest free addresses),
// so the heap the process then builds, up to the block's size, comes in
// huge pages. Beyond it the heap grows as usual.
//
// The cost is the one collection of a heap that is still almost empty,
// and a resident set rounded up to whole 2 MiB pages. It is meant for a
// process that lives for one burst of work; a long-running daemon, whose
// heap is returned to the kernel page by page between bursts, gains
// little and keeps the rounding.
package hugeheap

import (
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reserve grows the heap by size bytes, advises that block for huge pages
// and frees it for the allocations that follow. It reports whether the
// kernel took the advice; when it did not (a kernel without transparent
// huge pages), the block is freed all the same and the heap behaves as
// without Reserve. A size under one page does nothing. Where the kernel's
// setting is "never", the advice is taken and has no effect. Call it once,
// early, before the heap holds much: the collection it runs marks what is
// live.
func Reserve(size int) bool {
	page := os.Getpagesize()
	if size < page {
		return false
	}
	block := make([]byte, size) // fresh memory: not touched, not zeroed
	start := uintptr(unsafe.Pointer(unsafe.SliceData(block)))
	// madvise wants a page-aligned start; a large object starts on one,
	// but align anyway and advise only whole pages of the block.
	begin := (start + uintptr(page) - 1) &^ (uintptr(page) - 1)
	end := (start + uintptr(size)) &^ (uintptr(page) - 1)
	advised := false
	if begin < end {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, begin, end-begin, unix.MADV_HUGEPAGE)
		advised = errno == 0
	}
	runtime.KeepAlive(block)
	runtime.GC() // frees the block: the next allocations take its pages
	return advised
}
