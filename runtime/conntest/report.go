package conntest

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Summary counts results.
type Summary struct {
	Passed, Failed int
}

// Summarize counts the passed and failed results.
func Summarize(results []Result) Summary {
	var s Summary
	for i := range results {
		if results[i].Passed() {
			s.Passed++
		} else {
			s.Failed++
		}
	}
	return s
}

// WriteText writes each failed case with its mismatches (and, verbose,
// each passed one), then a summary line.
func WriteText(w io.Writer, results []Result, verbose bool, elapsed time.Duration) error {
	var b strings.Builder
	for i := range results {
		r := &results[i]
		if r.Passed() {
			if verbose {
				fmt.Fprintf(&b, "ok    %s (%s)\n", r.Case.Name, r.Case.Pos)
			}
			continue
		}
		fmt.Fprintf(&b, "FAIL  %s (%s)\n", r.Case.Name, r.Case.Pos)
		for _, l := range r.Failures {
			fmt.Fprintf(&b, "      %s\n", l)
		}
	}
	s := Summarize(results)
	status := "ok"
	if s.Failed > 0 {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s: %d passed, %d failed, %s in %.2fs\n", status, s.Passed, s.Failed, count(len(results), "case"), elapsed.Seconds())
	_, err := io.WriteString(w, b.String())
	return err
}

// JUnit XML, as CI systems (GitHub Actions reporters, GitLab, Jenkins)
// read it: a suite per test file, a testcase per case.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results as a JUnit XML report.
func WriteJUnit(w io.Writer, results []Result, elapsed time.Duration) error {
	doc := junitSuites{Name: "membrane test", Tests: len(results), Time: seconds(elapsed)}
	index := map[string]int{}
	for i := range results {
		r := &results[i]
		file := r.Case.Pos.File
		si, ok := index[file]
		if !ok {
			si = len(doc.Suites)
			index[file] = si
			doc.Suites = append(doc.Suites, junitSuite{Name: file})
		}
		s := &doc.Suites[si]
		tc := r.Case.Spec()
		jc := junitCase{
			Name:      tc.Name,
			Classname: r.Case.Test.Connector + "/" + r.Case.Action(),
			File:      file,
			Line:      r.Case.Pos.Line,
			Time:      seconds(r.Duration),
		}
		s.Tests++
		if !r.Passed() {
			s.Failures++
			doc.Failures++
			jc.Failure = &junitFailure{
				Message: r.Failures[0],
				Type:    "mismatch",
				Text:    fmt.Sprintf("%s\n%s\n", r.Case.Pos, strings.Join(r.Failures, "\n")),
			}
		}
		s.Cases = append(s.Cases, jc)
	}
	for i := range doc.Suites {
		var d time.Duration
		for j := range results {
			if results[j].Case.Pos.File == doc.Suites[i].Name {
				d += results[j].Duration
			}
		}
		doc.Suites[i].Time = seconds(d)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
