package amqpconn

import "math"

// Int converts an integer decoded from an AMQP message to int64. The
// router sends int32 (Python agent), uint32 (C agent counters, vanflow
// record types), uint64 (ordinals, vanflow counters and timestamps), and
// other widths are accepted too. Floats, strings and unsigned values above
// math.MaxInt64 are refused (false).
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}
