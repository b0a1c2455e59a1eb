package fleettest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections to a server and can stall them, the way a
// congested or partitioned network does (PostgreSQL itself stays up), or
// cut them.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	closed bool
	paused bool
	resume chan struct{} // closed by Resume
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, resume: make(chan struct{})}
	close(p.resume)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Pause stalls every connection, open and new: bytes are held, not lost,
// until Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		p.paused = true
		p.resume = make(chan struct{})
	}
}

// Resume lets the held bytes through.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		close(p.resume)
	}
}

// Cut closes every open connection (new ones are still accepted).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Resume()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resume
}

// track adds or removes c from the connections Cut closes. It reports
// false, having closed c, when the proxy is closed.
func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !add:
		delete(p.conns, c)
	case p.closed:
		c.Close()
		return false
	default:
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		// Tracked before the goroutine starts, so that a Cut right after
		// the accept closes it too.
		if !p.track(in, true) {
			continue
		}
		p.wg.Add(1)
		go p.forward(in)
	}
}

func (p *Proxy) forward(in net.Conn) {
	defer p.wg.Done()
	defer p.track(in, false)
	defer in.Close()
	<-p.gate()
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(out, true) {
		return
	}
	defer p.track(out, false)
	defer out.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				<-p.gate()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.CloseWrite()
					}
				}
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	in.Close()
	out.Close()
	<-done
}
