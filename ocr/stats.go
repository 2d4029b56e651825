package ocr

// Size returns the number of recognitions the pool runs at once
// (PoolConfig.Size, defaults applied).
func (p *Pool) Size() int { return cap(p.slots) }

// Busy returns the number of recognitions running now, each on an engine
// (orientation detection included): at most Size. It is a snapshot, for
// metrics.
func (p *Pool) Busy() int { return len(p.slots) }
