//! Min-cost maximum flow by successive shortest paths with Johnson
//! potentials (Dijkstra on reduced costs). Integer capacities and costs, so
//! the optimum is integral and computed exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A directed network under construction, then solved in place.
#[derive(Debug, Default)]
pub(crate) struct Network {
    /// Per edge; edge `e` and its residual twin `e ^ 1` are stored together.
    to: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    /// Outgoing edges of node `v` are `adj[start[v]..start[v + 1]]`
    /// once [`Network::solve`] has laid them out (compressed rows).
    start: Vec<usize>,
    adj: Vec<u32>,
    from: Vec<u32>,
    nodes: usize,
}

impl Network {
    pub(crate) fn new(nodes: usize) -> Network {
        Network {
            nodes,
            ..Network::default()
        }
    }

    /// Adds `u -> v` with capacity `cap >= 0` and cost `cost >= 0` per unit
    /// of flow; returns the edge id to read its flow back.
    pub(crate) fn add_edge(&mut self, u: usize, v: usize, cap: i64, cost: i64) -> usize {
        let e = self.to.len();
        self.to.push(v as u32);
        self.cap.push(cap);
        self.cost.push(cost);
        self.from.push(u as u32);
        self.to.push(u as u32);
        self.cap.push(0);
        self.cost.push(-cost);
        self.from.push(v as u32);
        e
    }

    /// Flow on an edge returned by [`Network::add_edge`].
    pub(crate) fn flow(&self, edge: usize) -> i64 {
        self.cap[edge ^ 1]
    }

    fn layout(&mut self) {
        let mut start = vec![0usize; self.nodes + 1];
        for &u in &self.from {
            start[u as usize + 1] += 1;
        }
        for v in 0..self.nodes {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut adj = vec![0u32; self.from.len()];
        for (e, &u) in self.from.iter().enumerate() {
            adj[fill[u as usize]] = e as u32;
            fill[u as usize] += 1;
        }
        self.start = start;
        self.adj = adj;
    }

    /// Pushes as much flow as possible from `s` to `t` at minimum total cost
    /// among maximum flows; returns `(flow, cost, work)` where `work` counts
    /// the residual edges scanned, a deterministic measure of effort that
    /// callers budget instead of reading a clock.
    ///
    /// Every edge cost must be non-negative, so zero potentials start valid.
    /// Each round finds a shortest `s -> t` path in reduced costs and
    /// saturates it; since each augmentation is along a shortest path the
    /// flow stays cost-optimal for its value, so the last one is a
    /// min-cost maximum flow.
    pub(crate) fn solve(&mut self, s: usize, t: usize) -> (i64, i128, u64) {
        self.layout();
        let n = self.nodes;
        let mut pot = vec![0i64; n];
        let mut dist = vec![i64::MAX; n];
        let mut done = vec![false; n];
        let mut prev = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        let (mut flow, mut cost, mut work) = (0i64, 0i128, 0u64);
        loop {
            dist.fill(i64::MAX);
            done.fill(false);
            prev.fill(u32::MAX);
            dist[s] = 0;
            heap.clear();
            heap.push(Reverse((0i64, s as u32)));
            while let Some(Reverse((d, u))) = heap.pop() {
                let u = u as usize;
                if done[u] || d > dist[u] {
                    continue;
                }
                done[u] = true;
                // The sink is settled: the rest cannot shorten this path.
                if u == t {
                    break;
                }
                let out = &self.adj[self.start[u]..self.start[u + 1]];
                work += out.len() as u64;
                for &e in out {
                    let e = e as usize;
                    if self.cap[e] == 0 {
                        continue;
                    }
                    let v = self.to[e] as usize;
                    let nd = d + self.cost[e] + pot[u] - pot[v];
                    if nd < dist[v] {
                        dist[v] = nd;
                        prev[v] = e as u32;
                        heap.push(Reverse((nd, v as u32)));
                    }
                }
            }
            if !done[t] {
                return (flow, cost, work);
            }
            // Truncated Dijkstra: nodes not settled get the sink's distance,
            // which keeps every residual reduced cost non-negative.
            let dt = dist[t];
            for v in 0..n {
                pot[v] += dist[v].min(dt);
            }
            let mut push = i64::MAX;
            let mut v = t;
            while v != s {
                let e = prev[v] as usize;
                push = push.min(self.cap[e]);
                v = self.from[e] as usize;
            }
            let mut v = t;
            while v != s {
                let e = prev[v] as usize;
                self.cap[e] -= push;
                self.cap[e ^ 1] += push;
                cost += i128::from(push) * i128::from(self.cost[e]);
                v = self.from[e] as usize;
            }
            flow += push;
        }
    }
}
