package certs

import (
	"testing"
	"time"
)

func BenchmarkNewCA(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		if _, err := NewCA("skupper-site-ca", 0, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	now := time.Now()
	ca, err := NewCA("skupper-site-ca", 0, now)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1", "localhost", "router.example"}, Usage: ServerAuth}
	for b.Loop() {
		if _, err := Issue(ca, req, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	now := time.Now()
	ca, err := NewCA("skupper-site-ca", 0, now)
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := Issue(ca, Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1"}, Usage: ServerAuth}, now)
	if err != nil {
		b.Fatal(err)
	}
	opts := CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}
	for b.Loop() {
		if err := Check(leaf, opts, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdSite makes what a site starting from nothing needs, as upstream
// lays it out (reference §3.6): three CAs (skupper-local-ca, skupper-site-ca,
// skupper-service-ca) and four leaves (local server and client, inter-router
// server and its client).
func BenchmarkColdSite(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		var cas [3]Bundle
		for i, cn := range []string{"skupper-local-ca", "skupper-site-ca", "skupper-service-ca"} {
			ca, err := NewCA(cn, 0, now)
			if err != nil {
				b.Fatal(err)
			}
			cas[i] = ca
		}
		for _, l := range []struct {
			ca  int
			req Request
		}{
			{0, Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}},
			{0, Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ClientAuth}},
			{1, Request{CommonName: "skupper-inter-router", Hosts: []string{"10.0.0.5", "site-a.example"}, Usage: ServerAuth}},
			{1, Request{CommonName: "client-skupper-inter-router", Usage: ClientAuth}},
		} {
			if _, err := Issue(cas[l.ca], l.req, now); err != nil {
				b.Fatal(err)
			}
		}
	}
}
