package pipeline

import "fmt"

// SplitPages cuts pages 1..pageCount into consecutive ranges of batchSize
// pages; the last range ends at pageCount. The ranges match Vision's output
// file names: output-1-to-B.json, output-(B+1)-to-2B.json, ...
func SplitPages(pageCount, batchSize int) ([]PageRange, error) {
	if pageCount < 1 {
		return nil, fmt.Errorf("pipeline: split: page count %d is not positive", pageCount)
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("pipeline: split: batch size %d is not positive", batchSize)
	}
	ranges := make([]PageRange, 0, (pageCount+batchSize-1)/batchSize)
	for first := 1; first <= pageCount; first += batchSize {
		ranges = append(ranges, PageRange{First: first, Last: min(first+batchSize-1, pageCount)})
	}
	return ranges, nil
}

// OutputName returns the object name Vision gives the output of r under
// destination prefix dest: the prefix concatenated verbatim with
// "output-<first>-to-<last>.json".
func OutputName(dest string, r PageRange) string {
	return fmt.Sprintf("%soutput-%d-to-%d.json", dest, r.First, r.Last)
}
