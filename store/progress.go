package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Progress is how far an operation has got, as [Operations.Progress] reads
// it: the operation, the files whose ranges are planned, and every planned
// range with whether its output is written.
type Progress struct {
	// Operation is the operation, as Get returns it.
	Operation *Operation
	// Planned are the indexes of the files whose ranges are recorded,
	// ascending. A file not listed has not been opened yet: its page count
	// is unknown.
	Planned []int
	// Ranges are the ranges of the planned files, ordered by file, then
	// first page. Together a file's ranges cover its pages 1..N.
	Ranges []RangeProgress
	// FileErrors are the files recorded as failed by FailFile, by index.
	FileErrors map[int]FileError
}

// FileError is the error a file failed with (Operations.FailFile).
type FileError struct {
	Code    int32  // a google.rpc code
	Message string // names the file
}

// RangeProgress is one planned range and how far it is.
type RangeProgress struct {
	Range
	// Done reports that the range's output object is written (CompleteRange
	// recorded it).
	Done bool
	// FailedPages counts the pages of a done range written as errors; 0
	// while the range is not done.
	FailedPages int
}

// Progress reads the operation's hash, planned files, ranges and finished
// ranges in one round trip, a MULTI/EXEC transaction (the keys share the
// operation's hash slot), so that what it returns is one instant's state:
// the pages done agree with the ranges done, and the failed pages with
// the ranges that have them.
func (s *RedisOperations) Progress(ctx context.Context, id string) (*Progress, error) {
	var (
		hash                  *redis.MapStringStringCmd
		planned, ranges, done *redis.StringSliceCmd
	)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		hash = p.HGetAll(ctx, s.opKey(id))
		planned = p.SMembers(ctx, s.plannedKey(id))
		ranges = p.SMembers(ctx, s.rangesKey(id))
		done = p.SMembers(ctx, s.doneKey(id))
		return nil
	})
	if err != nil {
		return nil, wrapRedis("read progress of "+id, err)
	}
	m := hash.Val()
	op, err := decodeOp(id, m)
	if err != nil {
		return nil, err
	}
	if op == nil {
		return nil, fmt.Errorf("store: operation %s: %w", id, ErrNotFound)
	}
	pr := &Progress{Operation: op}
	for _, f := range planned.Val() {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("store: operation %s: planned file %q is not a number", id, f)
		}
		pr.Planned = append(pr.Planned, n)
	}
	slices.Sort(pr.Planned)
	isDone := make(map[string]bool, len(done.Val()))
	for _, member := range done.Val() {
		isDone[member] = true
	}
	for _, member := range ranges.Val() {
		r, ok := parseRangeMember(member)
		if !ok {
			return nil, fmt.Errorf("store: operation %s: range %q is not file:first-last", id, member)
		}
		rp := RangeProgress{Range: r, Done: isDone[member]}
		if rp.Done {
			rp.FailedPages = atoi(m[failedPrefix+member])
		}
		pr.Ranges = append(pr.Ranges, rp)
	}
	pr.FileErrors = fileErrors(m)
	slices.SortFunc(pr.Ranges, func(a, b RangeProgress) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.First, b.First))
	})
	return pr, nil
}

// parseRangeMember is the inverse of rangeMember: "file:first-last".
func parseRangeMember(m string) (Range, bool) {
	file, pages, ok1 := strings.Cut(m, ":")
	first, last, ok2 := strings.Cut(pages, "-")
	f, err1 := strconv.Atoi(file)
	a, err2 := strconv.Atoi(first)
	b, err3 := strconv.Atoi(last)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
		return Range{}, false
	}
	return Range{File: f, First: a, Last: b}, true
}

// fileErrors reads the file errors FailFile recorded in an operation's
// hash: "ferr:<file>" (the code) and "femsg:<file>" (the message).
func fileErrors(m map[string]string) map[int]FileError {
	var errs map[int]FileError
	for f, v := range m {
		file, ok := strings.CutPrefix(f, fileErrCodePrefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(file)
		if err != nil {
			continue
		}
		if errs == nil {
			errs = map[int]FileError{}
		}
		errs[n] = FileError{Code: int32(atoi(v)), Message: m[fileErrMsgPrefix+file]}
	}
	return errs
}
