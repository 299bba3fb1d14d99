// Package vanflow subscribes to the vanflow events of a router network
// (shared/reference/router-runtime.md §6) through the local router, keeps
// the records it receives, and derives from them what skupperd reports as
// observed status: the sites in the network, each link's remote site and
// whether it is operational, and which routing keys have listeners and
// connectors anywhere (§7).
//
// The pieces are separable: DecodeRecords turns a RECORD message body into
// Records, a Store applies them as patches per source, Network is a pure
// function of a Snapshot, and Subscriber wires them to the router.
package vanflow

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/skupperd/skupperd/router/amqpconn"
)

// RecordType is a vanflow record type code (attribute 0).
type RecordType uint32

// Record types (§6.4). The router emits SITE, ROUTER, LINK, LISTENER,
// CONNECTOR, ROUTER_ACCESS on the record address; the others are listed
// for completeness.
const (
	TypeSite         RecordType = 0
	TypeRouter       RecordType = 1
	TypeLink         RecordType = 2
	TypeController   RecordType = 3
	TypeListener     RecordType = 4
	TypeConnector    RecordType = 5
	TypeFlow         RecordType = 6
	TypeProcess      RecordType = 7
	TypeImage        RecordType = 8
	TypeIngress      RecordType = 9
	TypeEgress       RecordType = 10
	TypeCollector    RecordType = 11
	TypeProcessGroup RecordType = 12
	TypeHost         RecordType = 13
	TypeLog          RecordType = 14
	TypeRouterAccess RecordType = 15
	TypeBiflowTport  RecordType = 16
	TypeBiflowApp    RecordType = 17
)

var typeNames = map[RecordType]string{
	TypeSite: "SITE", TypeRouter: "ROUTER", TypeLink: "LINK", TypeController: "CONTROLLER",
	TypeListener: "LISTENER", TypeConnector: "CONNECTOR", TypeFlow: "FLOW", TypeProcess: "PROCESS",
	TypeImage: "IMAGE", TypeIngress: "INGRESS", TypeEgress: "EGRESS", TypeCollector: "COLLECTOR",
	TypeProcessGroup: "PROCESS_GROUP", TypeHost: "HOST", TypeLog: "LOG", TypeRouterAccess: "ROUTER_ACCESS",
	TypeBiflowTport: "BIFLOW_TPORT", TypeBiflowApp: "BIFLOW_APP",
}

func (t RecordType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "RecordType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Attribute codes (§6.5) used by this package.
const (
	AttrType          uint32 = 0
	AttrIdentity      uint32 = 1
	AttrParent        uint32 = 2
	AttrStartTime     uint32 = 3
	AttrEndTime       uint32 = 4
	AttrPeer          uint32 = 6
	AttrProcess       uint32 = 7
	AttrLocation      uint32 = 9
	AttrProvider      uint32 = 10
	AttrPlatform      uint32 = 11
	AttrNamespace     uint32 = 12
	AttrMode          uint32 = 13
	AttrSourceHost    uint32 = 14
	AttrDestHost      uint32 = 15
	AttrProtocol      uint32 = 16
	AttrDestPort      uint32 = 18
	AttrVanAddress    uint32 = 19
	AttrImageName     uint32 = 20
	AttrImageVersion  uint32 = 21
	AttrHostname      uint32 = 22
	AttrOctets        uint32 = 23
	AttrResult        uint32 = 28
	AttrReason        uint32 = 29
	AttrName          uint32 = 30
	AttrBuildVersion  uint32 = 32
	AttrLinkCost      uint32 = 33
	AttrFlowCountL4   uint32 = 40
	AttrLinkCount     uint32 = 52
	AttrOperStatus    uint32 = 53
	AttrRole          uint32 = 54
	AttrUpTimestamp   uint32 = 55
	AttrDownTimestamp uint32 = 56
	AttrDownCount     uint32 = 57
	AttrOctetsReverse uint32 = 58
)

// Record is one decoded vanflow record: a patch of attributes for the
// record Identity. Attrs holds every attribute sent, by code, including
// the type (0) when present; values are as go-amqp decoded them.
type Record struct {
	Identity string
	Attrs    map[uint32]any
}

// Type returns the record's type, if the record carries one.
func (r Record) Type() (RecordType, bool) { return typeOf(r.Attrs) }

// Ended reports whether the record carries endTime: the entity is gone.
func (r Record) Ended() bool { return r.Attrs[AttrEndTime] != nil }

func typeOf(attrs map[uint32]any) (RecordType, bool) {
	n, ok := amqpconn.Int(attrs[AttrType])
	if !ok || n < 0 || n > math.MaxUint32 {
		return 0, false
	}
	return RecordType(n), true
}

// DecodeRecords decodes the body of a RECORD message: an AMQP list of
// maps keyed by attribute code (uint32 as go-amqp decodes the router's
// uint keys; any integer key is accepted). Entries that are not such maps
// or lack a string identity are skipped; the error then describes the
// first one, and the well-formed records are still returned. It never
// panics.
func DecodeRecords(body any) ([]Record, error) {
	list, ok := body.([]any)
	if !ok {
		return nil, fmt.Errorf("vanflow: record body is %T, want a list", body)
	}
	var first error
	skip := func(err error) {
		if first == nil {
			first = err
		}
	}
	out := make([]Record, 0, len(list))
	for i, e := range list {
		attrs := map[uint32]any{}
		switch m := e.(type) {
		case map[any]any:
			bad := false
			for k, v := range m {
				n, ok := amqpconn.Int(k)
				if !ok || n < 0 || n > math.MaxUint32 {
					bad = true
					break
				}
				attrs[uint32(n)] = v
			}
			if bad {
				skip(fmt.Errorf("vanflow: record %d has a key that is not an attribute code", i))
				continue
			}
		case map[uint32]any:
			for k, v := range m {
				attrs[k] = v
			}
		default:
			skip(fmt.Errorf("vanflow: record %d is %T, want a map", i, e))
			continue
		}
		id, ok := attrs[AttrIdentity].(string)
		if !ok || id == "" {
			skip(fmt.Errorf("vanflow: record %d has no identity", i))
			continue
		}
		out = append(out, Record{Identity: id, Attrs: attrs})
	}
	return out, first
}

// str returns a string attribute, or "" when absent or of another type.
// Integers are formatted (ports may come either way).
func str(attrs map[uint32]any, code uint32) string {
	switch v := attrs[code].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		if n, ok := amqpconn.Int(v); ok {
			return strconv.FormatInt(n, 10)
		}
		return ""
	}
}

// integer returns an integer attribute, or 0.
func integer(attrs map[uint32]any, code uint32) int64 {
	n, _ := amqpconn.Int(attrs[code])
	return n
}

// timestamp returns a microseconds-since-the-epoch attribute, or the zero
// time.
func timestamp(attrs map[uint32]any, code uint32) time.Time {
	n, ok := amqpconn.Int(attrs[code])
	if !ok || n <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// Site is a SITE record: one Skupper site (SKUPPER_SITE_ID).
type Site struct {
	ID, Name, Namespace, Platform, Version, Location, Provider string
}

// Router is a ROUTER record; Parent is its site's ID (set only when the
// router runs with SKUPPER_SITE_ID).
type Router struct {
	ID, Parent, Name, Mode, BuildVersion, Hostname, Namespace, ImageName, ImageVersion string
}

// Link is a LINK record: an outgoing inter-router/edge connector of the
// router Parent. Name is the connector's (= the Skupper Link's) name; Peer
// is the ROUTER_ACCESS id of the listener it reached.
type Link struct {
	ID, Parent, Name, Role, OperStatus, Peer, Protocol, DestPort, Result, Reason string
	LinkCost, DownCount                                                          int64
	UpTime, DownTime                                                             time.Time
}

// RouterAccess is a ROUTER_ACCESS record: an inter-router/edge listener of
// the router Parent.
type RouterAccess struct {
	ID, Parent, Name, Role string
	LinkCount              int64
}

// Listener is a LISTENER record (a tcpListener) of the router Parent.
type Listener struct {
	ID, Parent, Name, Protocol, DestHost, DestPort, Address string
	FlowCount                                               int64
}

// Connector is a CONNECTOR record (a tcpConnector) of the router Parent.
type Connector struct {
	ID, Parent, Name, Protocol, DestHost, DestPort, Address, Process string
	FlowCount                                                        int64
}

// Snapshot is a consistent copy of the typed records known at one
// moment, each slice sorted by ID. Records whose type is not (yet) known
// and types this package does not model are left out.
type Snapshot struct {
	Sites         []Site
	Routers       []Router
	Links         []Link
	RouterAccess  []RouterAccess
	Listeners     []Listener
	Connectors    []Connector
	RecordsByType map[RecordType]int
}

// add appends the typed view of one record (identity id) to s.
func (s *Snapshot) add(id string, t RecordType, a map[uint32]any) {
	s.RecordsByType[t]++
	switch t {
	case TypeSite:
		s.Sites = append(s.Sites, Site{ID: id, Name: str(a, AttrName), Namespace: str(a, AttrNamespace),
			Platform: str(a, AttrPlatform), Version: str(a, AttrBuildVersion), Location: str(a, AttrLocation), Provider: str(a, AttrProvider)})
	case TypeRouter:
		s.Routers = append(s.Routers, Router{ID: id, Parent: str(a, AttrParent), Name: str(a, AttrName), Mode: str(a, AttrMode),
			BuildVersion: str(a, AttrBuildVersion), Hostname: str(a, AttrHostname), Namespace: str(a, AttrNamespace),
			ImageName: str(a, AttrImageName), ImageVersion: str(a, AttrImageVersion)})
	case TypeLink:
		s.Links = append(s.Links, Link{ID: id, Parent: str(a, AttrParent), Name: str(a, AttrName), Role: str(a, AttrRole),
			OperStatus: str(a, AttrOperStatus), Peer: str(a, AttrPeer), Protocol: str(a, AttrProtocol), DestPort: str(a, AttrDestPort),
			Result: str(a, AttrResult), Reason: str(a, AttrReason), LinkCost: integer(a, AttrLinkCost), DownCount: integer(a, AttrDownCount),
			UpTime: timestamp(a, AttrUpTimestamp), DownTime: timestamp(a, AttrDownTimestamp)})
	case TypeRouterAccess:
		s.RouterAccess = append(s.RouterAccess, RouterAccess{ID: id, Parent: str(a, AttrParent), Name: str(a, AttrName),
			Role: str(a, AttrRole), LinkCount: integer(a, AttrLinkCount)})
	case TypeListener:
		s.Listeners = append(s.Listeners, Listener{ID: id, Parent: str(a, AttrParent), Name: str(a, AttrName), Protocol: str(a, AttrProtocol),
			DestHost: str(a, AttrDestHost), DestPort: str(a, AttrDestPort), Address: str(a, AttrVanAddress), FlowCount: integer(a, AttrFlowCountL4)})
	case TypeConnector:
		s.Connectors = append(s.Connectors, Connector{ID: id, Parent: str(a, AttrParent), Name: str(a, AttrName), Protocol: str(a, AttrProtocol),
			DestHost: str(a, AttrDestHost), DestPort: str(a, AttrDestPort), Address: str(a, AttrVanAddress), Process: str(a, AttrProcess),
			FlowCount: integer(a, AttrFlowCountL4)})
	}
}
