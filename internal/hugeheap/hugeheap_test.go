package hugeheap

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestReserveAdvisesTheHeap: after Reserve, the heap that follows is
// built in the advised block: some of a few megabytes of fresh
// allocations lie in a mapping the kernel marks for huge pages ("hg").
// Without transparent huge pages in the kernel, Reserve reports false.
func TestReserveAdvisesTheHeap(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		// A kernel without transparent huge pages refuses the advice
		// (EINVAL): Reserve says so and the heap goes on as usual.
		require.False(t, Reserve(16<<20), "a kernel without transparent huge pages takes no advice")
		require.Empty(t, advisedRanges(t))
		return
	}
	require.True(t, Reserve(16<<20), "the kernel takes the advice")
	var held [][]byte
	for range 128 {
		held = append(held, make([]byte, 64<<10))
	}
	advised := advisedRanges(t)
	require.NotEmpty(t, advised, "a mapping is advised for huge pages")
	in := 0
	for _, b := range held {
		p := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
		for _, r := range advised {
			if p >= r[0] && p < r[1] {
				in++
				break
			}
		}
	}
	require.NotZero(t, in, "fresh allocations take the advised block's pages")
}

func TestReserveRefusesLessThanAPage(t *testing.T) {
	require.False(t, Reserve(0))
	require.False(t, Reserve(os.Getpagesize()-1))
}

// advisedRanges lists the process's mappings whose VmFlags include hg.
func advisedRanges(t *testing.T) [][2]uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	var out [][2]uint64
	var cur [2]uint64
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			z, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				cur = [2]uint64{a, z}
			}
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && strings.Contains(" "+flags+" ", " hg ") {
			out = append(out, cur)
		}
	}
	require.NoError(t, s.Err())
	return out
}
