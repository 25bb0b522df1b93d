"""The reference for `fengqiao analyze`: esda 2.9 on the same files.

usage: esda_reference.py JOBS

JOBS has one job a line, its output file last:
    gi|moran VALUES WEIGHTS TABLE TRANSFORM OUT
    eb INPUT OUT
    bh PVALUES OUT
    knn POINTS K OUT
    mk SERIES OUT          (pymannkendall.original_test per id of a CSV id,time,value)

Each job writes CSV to OUT; one process runs them all, so numba compiles once. For gi and moran, esda's permutation draw is replaced by TABLE (one line
per permutation of 0-based indices into the other sites), so its p_sim can be compared exactly.
"""
import csv
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def read_values(path):
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    return [r[0] for r in rows], np.array([float(r[1]) for r in rows])


def read_w(path, ids):
    from libpysal.weights import W

    pos = {s: i for i, s in enumerate(ids)}
    nb = {s: [] for s in ids}
    with open(path) as f:
        rows = list(csv.reader(f))
    weighted = len(rows[0]) == 3
    for r in rows[1:]:
        nb[r[0]].append((pos[r[1]], r[1], float(r[2]) if weighted else 1.0))
    neighbors, weights = {}, {}
    for s in ids:
        # neighbours in the values file's order, as fengqiao's rows are
        lst = sorted(nb[s])
        neighbors[s] = [x[1] for x in lst]
        weights[s] = [x[2] for x in lst]
    return W(neighbors, weights, id_order=ids, silence_warnings=True)


def use_table(path):
    import esda.crand

    table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)

    def vec_permutations(max_card, n, k_replications, seed):
        assert table.shape[0] == k_replications and table.shape[1] >= max_card
        return np.ascontiguousarray(table[:, :max_card])

    esda.crand.vec_permutations = vec_permutations
    return table.shape[0]


def out(header, cols):
    w = csv.writer(sys.stdout)  # redirected to the job's file
    w.writerow(header)
    for row in zip(*cols):
        w.writerow([repr(float(x)) if not isinstance(x, str) else x for x in row])


def main():
    with open(sys.argv[1]) as f:
        jobs = [line.split() for line in f if line.strip()]
    for job in jobs:
        with open(job[-1], "w", newline="") as o:
            sys.stdout = o
            run(job[:-1])
        sys.stdout = sys.__stdout__


def run(argv):
    argv = ["esda_reference.py"] + argv
    mode = argv[1]
    if mode in ("gi", "moran"):
        values, weights, table, transform = argv[2:6]
        ids, y = read_values(values)
        w = read_w(weights, ids)
        perms = use_table(table)
        if mode == "gi":
            from esda.getisord import G_Local

            g = G_Local(y, w, transform=transform, permutations=perms, star=True, n_jobs=1, seed=1)
            out(["id", "stat", "expected", "variance", "z", "p_norm", "p_sim"], [ids, g.Gs, g.EGs, g.VGs, g.Zs, g.p_norm, g.p_sim])
        else:
            from esda.moran import Moran_Local

            m = Moran_Local(y, w, transformation=transform, permutations=perms, n_jobs=1, seed=1)
            out(
                ["id", "stat", "ei", "vi", "eic", "vic", "p_sim", "quadrant"],
                [ids, m.Is, m.EI, m.VI, m.EIc, m.VIc, m.p_sim, m.q],
            )
    elif mode == "eb":
        from esda.smoothing import Empirical_Bayes

        with open(argv[2]) as f:
            rows = list(csv.reader(f))[1:]
        e = np.array([float(r[1]) for r in rows])
        b = np.array([float(r[2]) for r in rows])
        out(["id", "eb_rate"], [[r[0] for r in rows], Empirical_Bayes(e, b).r.flatten()])
    elif mode == "bh":
        from scipy.stats import false_discovery_control

        p = np.loadtxt(argv[2], ndmin=1)
        out(["p_fdr"], [false_discovery_control(p, method="bh")])
    elif mode == "knn":
        from libpysal.weights import KNN

        with open(argv[2]) as f:
            rows = list(csv.reader(f))[1:]
        pts = np.array([[float(r[1]), float(r[2])] for r in rows])
        ids = [r[0] for r in rows]
        w = KNN.from_array(pts, k=int(argv[3]), ids=ids)
        wr = csv.writer(sys.stdout)
        wr.writerow(["from", "to"])
        for s in ids:
            for t in w.neighbors[s]:
                wr.writerow([s, t])
    elif mode == "mk":
        import pymannkendall as mk

        with open(argv[2]) as f:
            rows = list(csv.reader(f))[1:]
        series = {}
        for r in rows:
            series.setdefault(r[0], []).append((int(r[1]), float(r[2])))
        ids = list(series)
        res = [mk.original_test(np.array([v for _, v in sorted(series[i])])) for i in ids]
        out(
            ["id", "s", "var_s", "z", "p", "tau", "slope", "intercept", "trend"],
            [ids] + [[float(getattr(r, k)) for r in res] for k in ["s", "var_s", "z", "p", "Tau", "slope", "intercept"]] + [[r.trend for r in res]],
        )
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
