package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version describes the build that info (from debug.ReadBuildInfo, nil when
// the binary carries none) records: the main module's version ("(devel)"
// for a build from a checkout without a version stamp), the revision and
// commit time of the checkout with "modified" when it had uncommitted
// changes, and the Go release.
func version(info *debug.BuildInfo) string {
	if info == nil {
		return fmt.Sprintf("shmring version unknown (no build information), %s", runtime.Version())
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	s := "shmring version " + v
	vcs := map[string]string{}
	for _, kv := range info.Settings {
		vcs[kv.Key] = kv.Value
	}
	if rev := vcs["vcs.revision"]; rev != "" {
		var details []string
		if t := vcs["vcs.time"]; t != "" {
			details = append(details, t)
		}
		if vcs["vcs.modified"] == "true" {
			details = append(details, "modified")
		}
		s += fmt.Sprintf(", %s revision %s", vcs["vcs"], rev)
		if len(details) > 0 {
			s += " (" + strings.Join(details, ", ") + ")"
		}
	}
	return s + ", " + info.GoVersion
}
