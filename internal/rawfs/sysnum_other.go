//go:build !amd64 && !arm64

package rawfs

// rawSupported: elsewhere (32-bit architectures with their stat64 calls,
// say) every call stays ordinary.
const rawSupported = false

// sysFstatat is not used where rawSupported is false.
const sysFstatat = 0
