//go:build linux

package main

// Output: the aligned table and targets (default), JSON lines (-json) and
// the SVG chart (-svg).

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
)

// row is one line of results. The JSON fields are the schema of -json, and
// nothing else is marshalled; figures a scenario does not measure are zero.
type row struct {
	Scenario  string  `json:"scenario"`
	Transport string  `json:"transport"`
	Strategy  string  `json:"strategy"`
	API       string  `json:"api"`
	Size      int     `json:"size"`
	Producers int     `json:"producers"`
	Consumers int     `json:"consumers"`
	MsgsPerS  float64 `json:"msgs_per_s"`
	MBPerS    float64 `json:"mb_per_s"`
	P50       int64   `json:"p50_ns"`
	P99       int64   `json:"p99_ns"`
	P999      int64   `json:"p999_ns"`
	Max       int64   `json:"max_ns"`
	CPUPct    float64 `json:"cpu_pct"`

	measured bool  // the figures are valid
	err      error // why a row has no figures: errNotApplicable, or its failure
}

func (r row) name() string {
	b := bench{scenario: r.Scenario, kind: kind{r.Transport, r.Strategy, r.API}, size: r.Size}
	if isMPMC(r.Transport) {
		b.producers, b.consumers = r.Producers, r.Consumers
	}
	return b.name()
}

// label names the row's transport in the chart: with the producers and
// consumers of an MPMC row.
func (r row) label() string {
	l := strings.TrimSpace(strings.Join([]string{r.Transport, r.Strategy, r.API}, " "))
	if isMPMC(r.Transport) {
		l += fmt.Sprintf(" %dP%dC", r.Producers, r.Consumers)
	}
	return l
}

// comparison is how a target's value must compare with its bound.
type comparison uint8

const (
	atLeast comparison = iota // value >= bound
	atMost                    // value <= bound
	below                     // value < bound
)

func (c comparison) String() string {
	return [...]string{">=", "<=", "<"}[c]
}

func (c comparison) holds(v, bound float64) bool {
	switch c {
	case atLeast:
		return v >= bound
	case atMost:
		return v <= bound
	}
	return v < bound
}

// note is the table's note on a row without figures.
func (r row) note() string {
	switch {
	case r.err == nil:
		return ""
	case errors.Is(r.err, errNotApplicable):
		return r.err.Error()
	}
	return "FAILED: " + r.err.Error()
}

// target is a goal: field of row num, divided by the sum of field over the
// rows of den unless den is empty, compared with bound.
type target struct {
	what  string
	num   string
	den   []string
	field func(row) float64
	cmp   comparison
	bound float64
}

// rows are the rows t reads.
func (t target) rows() []string { return append([]string{t.num}, t.den...) }

func msgsPerS(r row) float64 { return r.MsgsPerS }
func mbPerS(r row) float64   { return r.MBPerS }
func p50(r row) float64      { return float64(r.P50) }
func p99(r row) float64      { return float64(r.P99) }
func cpuPct(r row) float64   { return r.CPUPct }

// result is a target read from one run.
type result struct {
	target
	value    float64
	measured bool   // every row it reads ran
	why      string // why it was not measured, when a row it reads does not apply here
}

func (r result) met() bool { return r.measured && r.cmp.holds(r.value, r.bound) }

// evaluate reads every target from rows.
func evaluate(rows []row) []result {
	byName := make(map[string]row, len(rows))
	for _, r := range rows {
		byName[r.name()] = r
	}
	results := make([]result, 0, len(targets))
	for _, t := range targets {
		res := result{target: t}
		ran := true
		for _, name := range t.rows() {
			r := byName[name] // the zero row, unmeasured, when it was not run
			ran = ran && r.measured
			if res.why == "" && errors.Is(r.err, errNotApplicable) {
				res.why = r.err.Error()
			}
		}
		if ran {
			res.value, res.measured = t.value(byName)
		}
		results = append(results, res)
	}
	return results
}

// value is t read from byName, which holds every row t reads, measured; ok
// is false when the denominator is not positive.
func (t target) value(byName map[string]row) (v float64, ok bool) {
	v = t.field(byName[t.num])
	if len(t.den) == 0 {
		return v, true
	}
	sum := 0.0
	for _, name := range t.den {
		sum += t.field(byName[name])
	}
	if sum <= 0 {
		return 0, false
	}
	return v / sum, true
}

// writeTable writes rows as an aligned table. The ÷bare column divides a
// throughput row's msgs/s, or a round trip's p50, by the bare ring's of the
// same size.
func writeTable(w io.Writer, rows []row) error {
	bare := make(map[string]row)
	for _, r := range rows {
		if r.Transport == tBare && r.measured {
			bare[fmt.Sprint(r.Scenario, r.Size)] = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTRANSPORT\tSTRATEGY\tAPI\tSIZE\tP/C\tMSGS/S\tMB/S\tP50\tP99\tP99.9\tMAX\tCPU%\t÷BARE\tNOTE")
	for _, r := range rows {
		cells := []string{r.Scenario, r.Transport, dash(r.Strategy), dash(r.API), fmtSize(r.Size), fmt.Sprintf("%d/%d", r.Producers, r.Consumers)}
		figures := []string{"-", "-", "-", "-", "-", "-", "-", "-"}
		vsBare := "-"
		if r.measured {
			b, ok := bare[fmt.Sprint(r.Scenario, r.Size)]
			switch r.Scenario {
			case sThroughput:
				figures[0], figures[1] = fmtRate(r.MsgsPerS), fmt.Sprintf("%.1f", r.MBPerS)
				if ok && r.Transport != tMemcpy {
					vsBare = fmt.Sprintf("%.2f", r.MsgsPerS/b.MsgsPerS)
				}
			case sPingpong:
				figures[2], figures[3], figures[4], figures[5] = fmtNs(r.P50), fmtNs(r.P99), fmtNs(r.P999), fmtNs(r.Max)
				if ok {
					vsBare = fmt.Sprintf("%.2f", float64(r.P50)/float64(b.P50))
				}
			case sIdle:
				figures[6] = fmt.Sprintf("%.2f", r.CPUPct)
			}
		}
		cells = append(append(cells, figures[:7]...), vsBare, r.note())
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		var few cpuShortage
		if errors.As(r.err, &few) {
			if _, err := fmt.Fprintf(w, "note: %s not measured: %v, one for each of its processes\n", r.label(), few); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeTargets writes each target's ratio and whether it was met.
func writeTargets(w io.Writer, results []result) error {
	if _, err := fmt.Fprintln(w, "\nTargets, from the rows of this run:"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range results {
		status, value, what := "NOT met", fmt.Sprintf("%.3g", r.value), r.what
		switch {
		case !r.measured:
			status, value = "not measured", "-"
			if r.why != "" {
				what += " (not measured: " + r.why + ")"
			}
		case r.met():
			status = "met"
		}
		fmt.Fprintf(tw, "  %s\t%s\t(want %s %g)\t%s\n", status, value, r.cmp, r.bound, what)
	}
	return tw.Flush()
}

// writeJSON writes every measured row as one JSON object per line.
func writeJSON(w io.Writer, rows []row) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if r.measured {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// summary is a row's figures for the progress line.
func summary(r row) string {
	switch r.Scenario {
	case sThroughput:
		return fmt.Sprintf("%s msgs/s, %.1f MB/s", fmtRate(r.MsgsPerS), r.MBPerS)
	case sPingpong:
		return fmt.Sprintf("p50 %s, p99 %s, p99.9 %s, max %s", fmtNs(r.P50), fmtNs(r.P99), fmtNs(r.P999), fmtNs(r.Max))
	}
	return fmt.Sprintf("cpu %.2f%%", r.CPUPct)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func fmtRate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func fmtNs(ns int64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", float64(ns)/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", float64(ns)/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%d ns", ns)
}

// axisNs writes a power of ten of nanoseconds.
func axisNs(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%g s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%g ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%g µs", v/1e3)
	}
	return fmt.Sprintf("%g ns", v)
}

// axisRate writes a power of ten of messages per second.
func axisRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// The SVG chart: two panels of grouped bars on a log scale, drawn by hand.

const (
	svgLeft     = 90  // room for the axis labels
	svgRight    = 20  // margin
	svgTitle    = 60  // room for a panel's title and legend
	svgPlot     = 260 // height of a plot area
	svgLabels   = 150 // room for the rotated group labels
	svgBar      = 14  // width of a bar
	svgGroupGap = 14  // space between two groups
	svgGroupMin = 40  // least width of a group
	svgMinWidth = 640 // room for a title and legend
)

// series is one kind of bar in a group.
type series struct{ name, color string }

// group is a set of bars over one label.
type group struct {
	label  string
	values []float64 // one per series; values <= 0 draw no bar
}

// panel is one chart.
type panel struct {
	title  string
	series []series
	groups []group
	format func(float64) string // a bar's value
	axis   func(float64) string // a power of ten on the axis
}

func (p panel) groupWidth() int { return max(svgGroupMin, len(p.series)*svgBar+svgGroupGap) }

func (p panel) width() int { return svgLeft + svgRight + len(p.groups)*p.groupWidth() }

// writeSVGFile writes the chart of rows to path.
func writeSVGFile(path string, rows []row) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: svg: %w", err)
	}
	err = writeSVG(f, rows)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: svg %s: %w", path, err)
	}
	return nil
}

// writeSVG draws the round-trip percentiles and the 64 B throughputs.
func writeSVG(w io.Writer, rows []row) error {
	latency := panel{
		title: "Round trip, 64 B messages (ns, log scale)",
		series: []series{
			{"p50", "#4e79a7"}, {"p99", "#f28e2b"}, {"p99.9", "#e15759"}, {"max", "#bab0ac"},
		},
		format: func(v float64) string { return fmtNs(int64(v)) },
		axis:   axisNs,
	}
	tput := panel{
		title:  "Throughput, 64 B messages (msgs/s, log scale)",
		series: []series{{"msgs/s", "#59a14f"}},
		format: fmtRate,
		axis:   axisRate,
	}
	for _, r := range rows {
		switch {
		case !r.measured || r.Size != sizes[0]:
		case r.Scenario == sPingpong:
			latency.groups = append(latency.groups, group{r.label(), []float64{float64(r.P50), float64(r.P99), float64(r.P999), float64(r.Max)}})
		case r.Scenario == sThroughput && r.Transport != tMemcpy:
			tput.groups = append(tput.groups, group{r.label(), []float64{r.MsgsPerS}})
		}
	}
	var panels []panel
	for _, p := range []panel{latency, tput} {
		if len(p.groups) > 0 {
			panels = append(panels, p)
		}
	}
	if len(panels) == 0 {
		return errors.New("no pingpong or 64 B throughput row to draw")
	}
	width := svgMinWidth
	for _, p := range panels {
		width = max(width, p.width())
	}
	height := len(panels) * (svgTitle + svgPlot + svgLabels)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for i, p := range panels {
		p.draw(&b, i*(svgTitle+svgPlot+svgLabels))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// draw draws p with its top at y0.
func (p panel) draw(b *strings.Builder, y0 int) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, g := range p.groups {
		for _, v := range g.values {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	// Whole decades around the values.
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dHi <= dLo {
		dHi = dLo + 1
	}
	top, bottom := y0+svgTitle, y0+svgTitle+svgPlot
	y := func(v float64) float64 {
		return float64(bottom) - (math.Log10(v)-dLo)/(dHi-dLo)*svgPlot
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, y0+18, html.EscapeString(p.title))
	for i, s := range p.series {
		x := svgLeft + i*70
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, y0+29, s.color, x+14, y0+38, html.EscapeString(s.name))
	}
	right := p.width() - svgRight
	for d := dLo; d <= dHi; d++ {
		v := math.Pow(10, d)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", svgLeft, y(v), right, y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y(v)+4, html.EscapeString(p.axis(v)))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", svgLeft, top, svgLeft, bottom)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", svgLeft, bottom, right, bottom)
	groupW := p.groupWidth()
	for gi, g := range p.groups {
		x0 := svgLeft + (groupW-len(p.series)*svgBar)/2 + gi*groupW
		for si, v := range g.values {
			if v <= 0 {
				continue
			}
			x := x0 + si*svgBar
			fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				x, y(v), svgBar-2, float64(bottom)-y(v), p.series[si].color,
				html.EscapeString(g.label), html.EscapeString(p.series[si].name), html.EscapeString(p.format(v)))
		}
		cx := x0 + len(p.series)*svgBar/2
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" transform="rotate(-45 %d %d)">%s</text>`+"\n", cx, bottom+14, cx, bottom+14, html.EscapeString(g.label))
	}
}
