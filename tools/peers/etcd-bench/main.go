// etcd-bench: tools/bench-peers' native etcd driver, in Go over etcd's own
// clientv3 (the sources Debian's golang-etcd-server-dev ships, built offline
// in GOPATH mode: tools/peers/build-drivers).  It drives a cluster the way
// chubby-bench drives a cell: N sessions, one goroutine and one
// clientv3.Client (its own gRPC connection, to member i mod n) each, one
// call outstanding per session, in a loop until the deadline; only calls
// that start after the warm-up and end before the deadline count.
//
// Workloads (one operation is):
//
//	write              Put of 100 bytes on the session's own key
//	cas                Txn: if the key's mod revision is the one the last
//	                   write returned, Put (etcd's compare-and-swap)
//	read               Get, linearizable (etcd's default: a ReadIndex
//	                   round through the leader)
//	read-serializable  Get WithSerializable(): served from the member's own
//	                   state, NOT linearizable
//	lock               v3lock Lock + Unlock RPCs (etcd's lock service, the
//	                   server side of concurrency.Mutex) under the session's
//	                   lease (concurrency.NewSession), each session its own lock
//	lock-contended     the same, every session on one lock name
//
// bench-peers reads stdout: "measure" when the measured window opens, "end"
// when it closes, then one JSON object.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
)

var payload = []byte(strings.Repeat("e", 100))

type worker struct {
	idx     int
	cli     *clientv3.Client
	sess    *concurrency.Session
	lk      v3lockpb.LockClient
	key     string
	lock    string
	rev     int64
	lat     []time.Duration
	errors  int
	errMsg  string
	setupEr error
}

func cpuSecs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func quantile(s []time.Duration, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	k := int(q*float64(len(s))+0.999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(s) {
		k = len(s) - 1
	}
	return float64(s[k]) / 1e6
}

func main() {
	eps := flag.String("e", "", "endpoints host:port,...")
	workload := flag.String("w", "write", "workload")
	clients := flag.Int("c", 1, "sessions")
	duration := flag.Float64("d", 10, "measured seconds")
	warmup := flag.Float64("warmup", 1, "unmeasured seconds first")
	prefix := flag.String("p", "/bench/etcd-bench", "key prefix")
	flag.Parse()
	switch *workload {
	case "write", "cas", "read", "read-serializable", "lock", "lock-contended":
	default:
		fmt.Fprintf(os.Stderr, "etcd-bench: unknown workload %s\n", *workload)
		os.Exit(2)
	}
	hosts := strings.Split(*eps, ",")
	if *eps == "" || *clients < 1 {
		fmt.Fprintln(os.Stderr, "usage: etcd-bench -e HOST:PORT,... -w WORKLOAD -c N -d SECONDS [-warmup S] [-p PREFIX]")
		os.Exit(2)
	}
	ws := make([]*worker, *clients)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{idx: i, key: fmt.Sprintf("%s/k%d", *prefix, i)}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.setupEr = w.setup(hosts[w.idx%len(hosts)], *workload, *prefix)
		}()
	}
	wg.Wait()
	res := map[string]interface{}{"driver": "etcd-bench", "workload": *workload,
		"clients": *clients, "nproc": runtime.NumCPU(), "ok": false, "error": ""}
	for _, w := range ws {
		if w.setupEr != nil {
			res["error"] = fmt.Sprintf("setup of session %d: %v", w.idx, w.setupEr)
			out, _ := json.Marshal(res)
			fmt.Println(string(out))
			os.Exit(1)
		}
	}
	start := time.Now()
	tMeasure := start.Add(time.Duration(*warmup * float64(time.Second)))
	tEnd := tMeasure.Add(time.Duration(*duration * float64(time.Second)))
	for _, w := range ws {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.loop(*workload, tMeasure, tEnd)
		}(w)
	}
	time.Sleep(time.Until(tMeasure))
	w0, c0 := time.Now(), cpuSecs()
	fmt.Println("measure")
	time.Sleep(time.Until(tEnd))
	w1, c1 := time.Now(), cpuSecs()
	fmt.Println("end")
	wg.Wait()
	var all []time.Duration
	errs := 0
	msg := ""
	for _, w := range ws {
		all = append(all, w.lat...)
		errs += w.errors
		if msg == "" {
			msg = w.errMsg
		}
	}
	for _, w := range ws {
		if w.sess != nil {
			w.sess.Close() // revokes the lease
		}
		w.cli.Close()
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	secs := w1.Sub(w0).Seconds()
	res["ok"] = len(all) > 0
	res["ops"] = len(all)
	res["errors"] = errs
	res["measured_s"] = secs
	res["ops_per_s"] = float64(len(all)) / secs
	res["p50_ms"] = quantile(all, 0.5)
	res["p99_ms"] = quantile(all, 0.99)
	res["p999_ms"] = quantile(all, 0.999)
	res["client_cpu_pct"] = 100 * (c1 - c0) / secs
	res["error"] = msg
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func (w *worker) setup(host, workload, prefix string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{host},
		DialTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	w.cli = cli
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := cli.Put(ctx, w.key, string(payload))
	if err != nil {
		return err
	}
	w.rev = r.Header.Revision
	if strings.HasPrefix(workload, "lock") {
		// concurrency.NewSession: one lease per session, kept alive by
		// the client for the run (default TTL 60 s).
		if w.sess, err = concurrency.NewSession(cli); err != nil {
			return err
		}
		w.lk = v3lockpb.NewLockClient(cli.ActiveConnection())
		if workload == "lock" {
			w.lock = fmt.Sprintf("%s/lock-l%d", prefix, w.idx)
		} else {
			w.lock = prefix + "/lock-shared"
		}
	}
	return nil
}

func (w *worker) op(workload string, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
	defer cancel()
	switch workload {
	case "write":
		_, err := w.cli.Put(ctx, w.key, string(payload))
		return err
	case "cas":
		r, err := w.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(w.key), "=", w.rev)).
			Then(clientv3.OpPut(w.key, string(payload))).Commit()
		if err != nil {
			return err
		}
		if !r.Succeeded {
			return fmt.Errorf("cas: compare failed")
		}
		w.rev = r.Header.Revision
		return nil
	case "read":
		_, err := w.cli.Get(ctx, w.key)
		return err
	case "read-serializable":
		_, err := w.cli.Get(ctx, w.key, clientv3.WithSerializable())
		return err
	default: // lock, lock-contended
		r, err := w.lk.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(w.lock), Lease: int64(w.sess.Lease())})
		if err != nil {
			return err
		}
		_, err = w.lk.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r.Key})
		return err
	}
}

func (w *worker) loop(workload string, tMeasure, tEnd time.Time) {
	for {
		t0 := time.Now()
		if !t0.Before(tEnd) {
			return
		}
		err := w.op(workload, tEnd)
		t1 := time.Now()
		if t0.Before(tMeasure) || t1.After(tEnd) {
			continue
		}
		if err == nil {
			w.lat = append(w.lat, t1.Sub(t0))
		} else {
			w.errors++
			if w.errMsg == "" {
				w.errMsg = err.Error()
			}
		}
	}
}
