//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"time"
)

func main() {
	if spec, ok := os.LookupEnv(jobEnv); ok {
		os.Exit(childMain(spec))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // a row failed
	exitUsage = 2
)

// Defaults of the flags.
const (
	defaultTime        = 300 * time.Millisecond
	defaultMsgs        = 1000
	defaultRTTs        = 100_000
	defaultQuickRTTs   = 20_000
	defaultPeerTimeout = 2 * time.Minute
)

// options are the parsed flags.
type options struct {
	quick, json bool
	svg         string
	run         *regexp.Regexp
	minTime     time.Duration
	minMsgs     int
	rtts        int
}

// parseFlags parses args; it reports usage errors on stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\nMeasures shmring against pipes, sockets, Go channels, a bare ring and memcpy,\nbetween two processes, and prints one table (see go doc ./bench).\n\n")
		fs.PrintDefaults()
	}
	var o options
	fs.BoolVar(&o.quick, "quick", false, "run a reduced set that still holds every row a target is read from")
	fs.BoolVar(&o.json, "json", false, "write one JSON object per row on stdout (targets go to stderr)")
	fs.StringVar(&o.svg, "svg", "", "also draw the round-trip percentiles and 64 B throughputs as an SVG chart in `FILE`")
	runRE := fs.String("run", "", "measure only the rows whose scenario/transport/strategy/api/size matches `REGEXP`")
	fs.DurationVar(&o.minTime, "time", defaultTime, "least duration of a throughput run")
	fs.IntVar(&o.minMsgs, "n", defaultMsgs, "least messages of a throughput run (at least 2)")
	fs.IntVar(&o.rtts, "rtt", 0, fmt.Sprintf("round trips recorded per pingpong row (default %d, %d with -quick)", defaultRTTs, defaultQuickRTTs))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.minTime <= 0 || o.minMsgs < 2 || o.rtts < 0:
		err = errors.New("-time must be positive, -n at least 2, -rtt not negative")
	default:
		if o.run, err = regexp.Compile(*runRE); err != nil {
			err = fmt.Errorf("-run: %w", err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return o, err
	}
	if o.rtts == 0 {
		o.rtts = defaultRTTs
		if o.quick {
			o.rtts = defaultQuickRTTs
		}
	}
	return o, nil
}

// run is the command: it parses args, measures the rows selected and writes
// the results; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	var benches []bench
	for _, b := range plan() {
		if o.run.MatchString(b.name()) && (!o.quick || inQuick(b)) {
			benches = append(benches, b)
		}
	}
	if len(benches) == 0 {
		fmt.Fprintf(stderr, "bench: no row matches -run %q\n", o.run)
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFail
	}
	h := &harness{exe: exe, minTime: o.minTime, minMsgs: o.minMsgs, rtts: o.rtts, timeout: defaultPeerTimeout, cpus: runtime.NumCPU()}
	rows, failed := h.measureAll(benches, stderr)

	results := evaluate(rows)
	if o.json {
		err = errors.Join(writeJSON(stdout, rows), writeTargets(stderr, results))
	} else {
		err = errors.Join(writeTable(stdout, rows), writeTargets(stdout, results))
	}
	if err == nil && o.svg != "" {
		err = writeSVGFile(o.svg, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFail
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bench: %d of %d rows failed\n", failed, len(rows))
		return exitFail
	}
	return exitOK
}

// measureAll measures benches in turn, with a progress line each on
// progress, and returns their rows and how many failed. A row that failed or
// does not apply keeps its identity and the error that says why.
func (h *harness) measureAll(benches []bench, progress io.Writer) (rows []row, failed int) {
	start := time.Now()
	width := len(strconv.Itoa(len(benches)))
	for i, b := range benches {
		fmt.Fprintf(progress, "[%*d/%d] %s ", width, i+1, len(benches), b.name())
		t0 := time.Now()
		r, err := h.measure(b)
		switch {
		case errors.Is(err, errNotApplicable):
			r = b.row()
			r.err = err
			fmt.Fprintf(progress, "not applicable: %v\n", err)
		case err != nil:
			r = b.row()
			r.err = err
			failed++
			fmt.Fprintf(progress, "FAILED: %v\n", err)
		default:
			r.measured = true
			fmt.Fprintf(progress, "%s (%.1f s)\n", summary(r), time.Since(t0).Seconds())
		}
		rows = append(rows, r)
	}
	fmt.Fprintf(progress, "bench: %d rows in %.1f s\n", len(rows), time.Since(start).Seconds())
	return rows, failed
}

// Message sizes of the throughput rows; round trips and idle use the first.
var sizes = []int{64, 1 << 10, 64 << 10, 1 << 20}

// lineMessage is the largest message whose SPSC record (an 8-byte header and
// the payload) fits one 64-byte cache line: the size of the one-line round
// trip rows.
const lineMessage = 56

var (
	strategies     = []string{"spin", "adaptive", "block"}
	throughputAPIs = []string{apiCopy, apiZerocopy, apiBatch, apiChannel}
	// A batch of one message is a copy: no batch round trips.
	pingpongAPIs = []string{apiCopy, apiZerocopy, apiChannel}
)

// plan returns every row, in the order of the table: per scenario and size,
// the baselines first; the MPMC rows follow the 64 B SPSC ones.
func plan() []bench {
	var bs []bench
	add := func(scenario string, size int, k kind) {
		bs = append(bs, bench{scenario: scenario, kind: k, size: size})
	}
	baselines := []string{tMemcpy, tBare, tChan, tPipe, tSeqpacket}
	for _, size := range sizes {
		for _, t := range baselines {
			add(sThroughput, size, kind{Transport: t})
		}
		for _, s := range strategies {
			for _, api := range throughputAPIs {
				add(sThroughput, size, kind{tShmring, s, api})
			}
		}
		if size == sizes[0] {
			for _, t := range []string{tMPMC, tLanes} {
				for _, api := range mpmcAPIs {
					for _, n := range mpmcCrews {
						bs = append(bs, mpmcRow(t, n, api))
					}
				}
			}
		}
	}
	// The cache line is the floor of a round trip; memcpy has none.
	add(sPingpong, sizes[0], kind{Transport: tLine})
	for _, t := range baselines[1:] {
		add(sPingpong, sizes[0], kind{Transport: t})
	}
	for _, s := range strategies {
		for _, api := range pingpongAPIs {
			add(sPingpong, sizes[0], kind{tShmring, s, api})
		}
	}
	// A message whose record fits one cache line: a hop moves that line,
	// where a 64 B message's record takes two (the bare ring's slot and
	// tail are two as well).
	add(sPingpong, lineMessage, kind{Transport: tBare})
	add(sPingpong, lineMessage, kind{tShmring, "adaptive", apiCopy})
	add(sIdle, sizes[0], kind{Transport: tPipe})
	for _, s := range strategies {
		add(sIdle, sizes[0], kind{tShmring, s, apiCopy})
	}
	// A worker of a pool waits on an MPMC ring, whose sleepers watch
	// every other participant.
	bs = append(bs, bench{scenario: sIdle, kind: kind{tMPMC, "adaptive", apiCopy}, size: sizes[0], producers: 1, consumers: 1})
	return bs
}

// mpmcAPIs are the APIs of the MPMC rows: copy (a claim per message) and
// batch (SendBatch and ReadBatch, a claim per batch).
var mpmcAPIs = []string{apiCopy, apiBatch}

// mpmcRow is the 64 B throughput row of MPMC transport t with n producers
// and n consumers on api.
func mpmcRow(t string, n int, api string) bench {
	return bench{scenario: sThroughput, kind: kind{t, "adaptive", api}, size: sizes[0], producers: n, consumers: n}
}

// quickExtra are the rows -quick runs besides those the targets read.
var quickExtra = map[string]bool{
	"throughput/seqpacket///64":                      true,
	"throughput/shmring/adaptive/channel/64":         true,
	"throughput/shmring-mpmc/adaptive/copy/64/2p2c":  true,
	"throughput/shmring-mpmc/adaptive/copy/64/4p4c":  true,
	"throughput/shmring-lanes/adaptive/copy/64/1p1c": true,
	"throughput/shmring-lanes/adaptive/copy/64/2p2c": true,
	"throughput/shmring-lanes/adaptive/copy/64/4p4c": true,
	"pingpong/seqpacket///64":                        true,
	"idle/pipe///64":                                 true,
	"idle/shmring/spin/copy/64":                      true,
	"idle/shmring-mpmc/adaptive/copy/64/1p1c":        true,
}

func inQuick(b bench) bool {
	name := b.name()
	if quickExtra[name] {
		return true
	}
	for _, t := range targets {
		if slices.Contains(t.rows(), name) {
			return true
		}
	}
	return false
}

// Row names the targets read.
const (
	rowCopy64      = "throughput/shmring/adaptive/copy/64"
	rowZerocopy64  = "throughput/shmring/adaptive/zerocopy/64"
	rowBatch64     = "throughput/shmring/adaptive/batch/64"
	rowBare64      = "throughput/bare-ring///64"
	rowPipe64      = "throughput/pipe///64"
	rowChan64      = "throughput/chan///64"
	rowMPMC1       = "throughput/shmring-mpmc/adaptive/copy/64/1p1c"
	rowMPMC8       = "throughput/shmring-mpmc/adaptive/copy/64/8p8c"
	rowLanes8      = "throughput/shmring-lanes/adaptive/copy/64/8p8c"
	rowZerocopy1M  = "throughput/shmring/adaptive/zerocopy/1048576"
	rowMemcpy1M    = "throughput/memcpy///1048576"
	rowRTTAdaptive = "pingpong/shmring/adaptive/copy/64"
	rowRTTChannel  = "pingpong/shmring/adaptive/channel/64"
	rowRTTBlock    = "pingpong/shmring/block/copy/64"
	rowRTTBare     = "pingpong/bare-ring///64"
	rowRTTLineMsg  = "pingpong/shmring/adaptive/copy/56"
	rowRTTBareLine = "pingpong/bare-ring///56"
	rowRTTLine     = "pingpong/cacheline///64"
	rowRTTChan     = "pingpong/chan///64"
	rowRTTPipe     = "pingpong/pipe///64"
	rowIdleAdapt   = "idle/shmring/adaptive/copy/64"
	rowIdleBlock   = "idle/shmring/block/copy/64"
)

// targets are the goals of issue 12, each a ratio of one row to another (or
// to the sum of others) of one run, or one row's value against an absolute
// bound.
var targets = []target{
	{"SPSC 64 B copy, adaptive: msgs/s ÷ bare ring", rowCopy64, []string{rowBare64}, msgsPerS, atLeast, 1.2},
	{"SPSC 64 B zero-copy, adaptive: msgs/s ÷ bare ring", rowZerocopy64, []string{rowBare64}, msgsPerS, atLeast, 1.5},
	{"SPSC 64 B copy, adaptive: msgs/s ÷ pipe", rowCopy64, []string{rowPipe64}, msgsPerS, atLeast, 20},
	{"SPSC 64 B batch, adaptive: msgs/s ÷ Go channel", rowBatch64, []string{rowChan64}, msgsPerS, atLeast, 4},
	{"round trip, adaptive: p50 ÷ bare ring p50", rowRTTAdaptive, []string{rowRTTBare}, p50, atMost, 0.8},
	{"round trip, adaptive, 56 B (one line): p50 ÷ bare ring p50", rowRTTLineMsg, []string{rowRTTBareLine}, p50, atMost, 0.8},
	{"round trip, adaptive: p50 ÷ cache line p50", rowRTTAdaptive, []string{rowRTTLine}, p50, atMost, 3},
	{"round trip, adaptive: p99 ÷ bare ring p99", rowRTTAdaptive, []string{rowRTTBare}, p99, atMost, 1.3},
	{"round trip, channel API: p50 ÷ (copy p50 + Go channel p50)", rowRTTChannel, []string{rowRTTAdaptive, rowRTTChan}, p50, atMost, 1.1},
	{"round trip, block: p50 ÷ pipe p50", rowRTTBlock, []string{rowRTTPipe}, p50, atMost, 0.9},
	{"idle consumer, adaptive: cpu %", rowIdleAdapt, nil, cpuPct, below, 1},
	{"idle consumer, block: cpu %", rowIdleBlock, nil, cpuPct, below, 1},
	{"MPMC 64 B, adaptive: 8P8C msgs/s ÷ 1P1C", rowMPMC8, []string{rowMPMC1}, msgsPerS, atLeast, 0.8},
	{"MPMC 64 B, adaptive, a lane per producer: 8P8C msgs/s ÷ 1P1C (one lane)", rowLanes8, []string{rowMPMC1}, msgsPerS, atLeast, 0.8},
	{"MPMC 64 B, adaptive: 8P8C msgs/s, a lane per producer ÷ one lane", rowLanes8, []string{rowMPMC8}, msgsPerS, atLeast, 4},
	{"MPMC 64 B, adaptive: 1P1C msgs/s ÷ bare ring", rowMPMC1, []string{rowBare64}, msgsPerS, atLeast, 1},
	{"1 MiB zerocopy, adaptive: MB/s ÷ memcpy", rowZerocopy1M, []string{rowMemcpy1M}, mbPerS, atLeast, 0.8},
}
