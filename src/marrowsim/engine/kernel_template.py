# ruff: noqa
# mypy: ignore-errors
# Rosenbrock kernel, appended by codegen.py to the generated model functions
# (rhs, jac, factor, solve, readouts, N_STATES, N_READOUTS, N_JAC, JAC_ROWS,
# JAC_COLS). Not importable on its own.
#
# Method: RODAS4, an L-stable, stiffly accurate Rosenbrock method of order 4
# with an embedded order-3 solution and a continuous (dense) output of order 3,
# in the transformed coefficients of Hairer & Wanner, Solving ODEs II (1996),
# section IV.7, code RODAS (gamma = 1/4). Each patient integrates with its own
# step-size control; one patient per prange iteration, so a patient's numbers
# never depend on the cohort it is in, its position, or the thread count.
#
# Events (N_EVENTS > 0; with none, every event branch is dead code that the
# compiler removes): after each accepted step every trigger g is evaluated at
# the step's end; an event whose g went from strictly the non-firing side at
# the step's start to on or over zero at its end is located inside the step
# on the dense output by the Illinois method (regula falsi that halves the
# stale end's value) with bisection as a safeguard, to EVENT_TOL days. The
# earliest located time ends the step there: outputs up to it come from the
# dense output, every crossed event whose trigger is on its firing side at
# that time fires (in declaration order: jumps, inputs, log), and integration
# restarts from it like a segment boundary (fresh f, Jacobian and initial
# step). An input an event sets holds from the event to the end of the
# course, over the schedule's value in later segments. A terminal event ends
# the course (STATUS_ENDED_BY_EVENT; later outputs NaN). An event with a
# condition (``when``) whose condition is false at its time does nothing but
# its unconditional jumps (a visit's clock restart): no jumps, inputs, log
# entry or termination. A visit is an event on a clock state of rate 1, so
# its trigger is linear and located exactly on the visit day.

GAMMA = 0.25
A21 = 1.544
A31 = 0.9466785280815826
A32 = 0.2557011698983284
A41 = 3.314825187068521
A42 = 2.896124015972201
A43 = 0.9986419139977817
A51 = 1.221224509226641
A52 = 6.019134481288629
A53 = 12.53708332932087
A54 = -0.6878860361058950
C21 = -5.6688
C31 = -2.430093356833875
C32 = -0.2063599157091915
C41 = -0.1073529058151375
C42 = -9.594562251023355
C43 = -20.47028614809616
C51 = 7.496443313967647
C52 = -10.24680431464352
C53 = -33.99990352819905
C54 = 11.70890893206160
C61 = 8.083246795921522
C62 = -7.981132988064893
C63 = -31.52159432874371
C64 = 16.31930543123136
C65 = -6.058818238834054
H21 = 10.12623508344586
H22 = -7.487995877610167
H23 = -34.80091861555747
H24 = -7.992771707568823
H25 = 1.025137723295662
H31 = -0.6762803392801253
H32 = 6.087714651680015
H33 = 16.43084320892478
H34 = 24.76722511418386
H35 = -6.594389125716872

STATUS_OK = 0
STATUS_TOO_MANY_STEPS = 1
STATUS_STEP_TOO_SMALL = 2
STATUS_ENDED_BY_EVENT = 3
EVENT_TOL = 1e-9  # days: width of the bracket left around a located event


@nb.njit(cache=True, error_model="numpy")
def dense_factor(m, piv):
    """LU with partial pivoting, in place (fallback when a sparse pivot is tiny)."""
    n = m.shape[0]
    for k in range(n):
        p = k
        best = abs(m[k, k])
        for i in range(k + 1, n):
            if abs(m[i, k]) > best:
                best = abs(m[i, k])
                p = i
        if not best > 0.0:
            return False
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = m[k, j]
                m[k, j] = m[p, j]
                m[p, j] = tmp
        inv = 1.0 / m[k, k]
        for i in range(k + 1, n):
            m[i, k] *= inv
            f = m[i, k]
            if f != 0.0:
                for j in range(k + 1, n):
                    m[i, j] -= f * m[k, j]
    return True


@nb.njit(cache=True, error_model="numpy")
def dense_solve(m, piv, b):
    n = m.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        for j in range(i):
            b[i] -= m[i, j] * b[j]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            b[i] -= m[i, j] * b[j]
        b[i] /= m[i, i]


@nb.njit(cache=True, error_model="numpy")
def linear_solve(use_dense, lu, dm, piv, b):
    if use_dense:
        dense_solve(dm, piv, b)
    else:
        solve(lu, b)


@nb.njit(cache=True, error_model="numpy")
def record(y, p, out_r, out_y, j, save_states, r):
    readouts(y, p, r)
    for k in range(N_READOUTS):
        out_r[j, k] = r[k]
    if save_states:
        for k in range(N_STATES):
            out_y[j, k] = y[k]


@nb.njit(cache=True, error_model="numpy")
def dense_state(theta, y, ynew, dense1, dense2, nonneg, yd):
    """The step's dense output at ``theta`` in [0, 1], held >= 0 where asked."""
    one = 1.0 - theta
    for i in range(N_STATES):
        yd[i] = one * y[i] + theta * (ynew[i] + one * (dense1[i] + theta * dense2[i]))
        if nonneg[i] and yd[i] < 0.0:
            # between two non-negative step values; the cubic's
            # undershoot is within its interpolation error
            yd[i] = 0.0


@nb.njit(cache=True, error_model="numpy")
def locate_event(k, fa, fb, h, y, ynew, dense1, dense2, p, u, nonneg, yd, g):
    """theta in (0, 1] where event k's signed trigger F = direction * g
    crosses from F(0) = fa < 0 to F(1) = fb >= 0 on the dense output.
    Illinois (regula falsi halving the value of an end kept twice), with a
    step into the bracket's inside when the secant point hugs an end and a
    bisection when the bracket fails to halve; returns the bracket's firing
    end, within EVENT_TOL days of the crossing."""
    direction = EVENT_DIRECTION[k]
    a = 0.0
    b = 1.0
    tol = EVENT_TOL / h
    side = 0
    width = 1.0
    for it in range(200):
        if b - a <= tol:
            break
        if it % 3 == 2 and b - a > 0.5 * width:
            c = 0.5 * (a + b)  # the last three points shrank too little
        else:
            c = b - fb * (b - a) / (fb - fa)
            edge = 0.25 * tol
            if not c > a + edge:
                c = a + edge
            elif not c < b - edge:
                c = b - edge
        if it % 3 == 2:
            width = b - a
        dense_state(c, y, ynew, dense1, dense2, nonneg, yd)
        event_triggers(yd, p, u, g)
        fc = direction * g[k]
        if fc >= 0.0:
            b = c
            fb = fc
            if fc == 0.0:
                break
            if side == 1:
                fa *= 0.5
            side = 1
        elif fc < 0.0:
            a = c
            fa = fc
            if side == -1:
                fb *= 0.5
            side = -1
        else:  # NaN: fall back to bisection on the same bracket
            b = c
    return b


@nb.njit(cache=True, error_model="numpy")
def crossings(ga, gb, crossed):
    """Mark each event whose trigger went from strictly its non-firing side
    (``ga``) to on or over zero (``gb``) in its direction; True if any did."""
    any_crossed = False
    for k in range(N_EVENTS):
        if EVENT_DIRECTION[k] < 0:
            crossed[k] = ga[k] > 0.0 and gb[k] <= 0.0
        else:
            crossed[k] = ga[k] < 0.0 and gb[k] >= 0.0
        any_crossed = any_crossed or crossed[k]
    return any_crossed


@nb.njit(cache=True, error_model="numpy")
def fire_event(k, t, y, p, ucur, uset, held, uheld, ev_t, ev_k, n_events):
    """Log event ``k`` at ``t`` and apply its jumps and inputs (inputs set by
    an event are held from then on); returns the new log length and whether
    it acted (False: its condition does not hold, only its unconditional
    jumps were made)."""
    if ANY_CONDITION and not event_condition(k, y, p, ucur):
        event_skip(k, y, p, ucur)
        return n_events, False
    if n_events < ev_t.shape[0]:
        ev_t[n_events] = t
        ev_k[n_events] = k
    elif EVENT_TERMINAL[k] and ev_t.shape[0] > 0:
        # a full log still ends with the event that ended the course (a death)
        ev_t[ev_t.shape[0] - 1] = t
        ev_k[ev_t.shape[0] - 1] = k
    for q in range(ucur.shape[0]):
        uset[q] = ucur[q]
    event_apply(k, y, p, ucur, uset)
    for q in range(ucur.shape[0]):
        if EVENT_SETS_INPUT[k, q]:
            held[q] = True
            uheld[q] = uset[q]
            ucur[q] = uset[q]
    return n_events + 1, True


@nb.njit(cache=True, error_model="numpy")
def integrate_patient(
    y0,
    p,
    seg_t,
    seg_u,
    n_seg,
    t_out,
    rtol,
    atol,
    max_step,
    save_states,
    max_steps,
    nonneg,
    out_r,
    out_y,
    ev_t,
    ev_k,
    y_end,
):
    n = N_STATES
    p = extend(p)
    y = y0.copy()
    ynew = np.empty(n)
    f = np.empty(n)  # scratch for stage evaluations
    f0 = np.empty(n)  # f(y) at the start of the step
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    yd = np.empty(n)
    dense1 = np.empty(n)
    dense2 = np.empty(n)
    jv = np.empty(N_JAC)
    lu = np.empty(N_LU)
    dm = np.empty((n, n))
    piv = np.zeros(n, dtype=np.int64)
    r = np.empty(N_READOUTS)
    n_out = t_out.shape[0]
    n_in = seg_u.shape[1]
    ucur = np.empty(n_in)  # inputs in force: the segment's, or an event's
    held = np.zeros(n_in, dtype=np.bool_)  # set by an event: held from then on
    uheld = np.zeros(n_in)
    uset = np.empty(n_in)
    g0 = np.empty(N_EVENTS)  # triggers at the step's start
    g1 = np.empty(N_EVENTS)  # ... and end
    gt = np.empty(N_EVENTS)
    gprev = np.empty(N_EVENTS)  # triggers just before a discontinuity
    have_prev = False  # none before the start
    theta_ev = np.empty(N_EVENTS)
    crossed = np.zeros(N_EVENTS, dtype=np.bool_)
    n_events = 0
    h_carry = 0.0  # the step to restart with after an event (0: estimate one)

    t = seg_t[0]
    j_out = 0
    while j_out < n_out and t_out[j_out] <= t:
        record(y, p, out_r, out_y, j_out, save_states, r)
        j_out += 1

    steps = 0
    rejects = 0
    status = STATUS_OK
    s = 0
    while s < n_seg:
        t_end = seg_t[s + 1]
        if not t_end > t + 1e-12 * max(1.0, abs(t_end)):
            # a segment too short to step through: inputs change at once
            while j_out < n_out and t_out[j_out] <= t_end:
                record(y, p, out_r, out_y, j_out, save_states, r)
                j_out += 1
            if N_EVENTS > 0 and not have_prev:
                # the course starts with a change (segments(): the inputs
                # before it, then after): a trigger it carries over zero fires
                for q in range(n_in):
                    ucur[q] = uheld[q] if held[q] else seg_u[s, q]
                event_triggers(y, p, ucur, g0)
                have_prev = True
            t = max(t, t_end)
            s += 1
            h_carry = 0.0  # new inputs: the step is estimated afresh
            continue
        for q in range(n_in):
            ucur[q] = uheld[q] if held[q] else seg_u[s, q]
        u = ucur
        restart = False  # an event ended the last step: start again from it
        if N_EVENTS > 0:
            # a discontinuity (new inputs, an event's jumps) may carry a trigger
            # over zero at once: fire it now, then any it carries over, in turn
            for q in range(N_EVENTS):
                gprev[q] = g0[q]
            event_triggers(y, p, u, g0)
            for _ in range(N_EVENTS + 1):
                if not have_prev:
                    break
                if not crossings(gprev, g0, crossed):
                    break
                for k in range(N_EVENTS):
                    if crossed[k] and status == STATUS_OK:
                        n_events, acted = fire_event(
                            k, t, y, p, ucur, uset, held, uheld, ev_t, ev_k, n_events
                        )
                        if acted and EVENT_TERMINAL[k]:
                            status = STATUS_ENDED_BY_EVENT
                for q in range(N_EVENTS):
                    gprev[q] = g0[q]
                event_triggers(y, p, u, g0)
            have_prev = True
        if status != STATUS_OK:
            break
        rhs(y, p, u, f0)
        if h_carry > 0.0:
            # after an event, the step its error estimate proposed: the
            # dynamics are those of the step it cut (a jump that changes them
            # costs a rejection or two, not a climb from a tiny step)
            h = min(h_carry, t_end - t)
            h_carry = 0.0
        else:
            # initial step: 1% of the time scale on which the solution changes
            d0 = 0.0
            d1 = 0.0
            for i in range(n):
                sc = atol[i] + rtol * abs(y[i])
                d0 += (y[i] / sc) ** 2
                d1 += (f0[i] / sc) ** 2
            d0 = math.sqrt(d0 / n)
            d1 = math.sqrt(d1 / n)
            h = t_end - t
            if d1 > 1e-10 and d0 > 1e-10:
                h = min(h, 0.01 * d0 / d1)
            h = min(max(h, 1e-10 * (t_end - t)), max_step)
        rejected = False
        have_jacobian = False  # f0 is fresh here; J is made at the first step
        while t < t_end:
            if steps + rejects >= max_steps:
                status = STATUS_TOO_MANY_STEPS
                break
            last = t + h >= t_end - 1e-12 * max(1.0, abs(t_end))
            if last:
                h = t_end - t
            # f(y) and J(y) are evaluated once per state: a rejected step
            # retries from the same y with only a smaller h
            if not have_jacobian:
                jac(y, p, u, jv)
                have_jacobian = True
            shift = 1.0 / (h * GAMMA)
            use_dense = not factor(jv, shift, lu)
            if use_dense:
                for a in range(n):
                    for b in range(n):
                        dm[a, b] = 0.0
                    dm[a, a] = shift
                for q in range(N_JAC):
                    dm[JAC_ROWS[q], JAC_COLS[q]] -= jv[q]
                if not dense_factor(dm, piv):
                    h *= 0.25
                    rejects += 1
                    rejected = True
                    continue
            inv_h = 1.0 / h
            # stage 1
            for i in range(n):
                k1[i] = f0[i]
            linear_solve(use_dense, lu, dm, piv, k1)
            # stage 2
            for i in range(n):
                ynew[i] = y[i] + A21 * k1[i]
            rhs(ynew, p, u, f)
            for i in range(n):
                k2[i] = f[i] + C21 * inv_h * k1[i]
            linear_solve(use_dense, lu, dm, piv, k2)
            # stage 3
            for i in range(n):
                ynew[i] = y[i] + A31 * k1[i] + A32 * k2[i]
            rhs(ynew, p, u, f)
            for i in range(n):
                k3[i] = f[i] + inv_h * (C31 * k1[i] + C32 * k2[i])
            linear_solve(use_dense, lu, dm, piv, k3)
            # stage 4
            for i in range(n):
                ynew[i] = y[i] + A41 * k1[i] + A42 * k2[i] + A43 * k3[i]
            rhs(ynew, p, u, f)
            for i in range(n):
                k4[i] = f[i] + inv_h * (C41 * k1[i] + C42 * k2[i] + C43 * k3[i])
            linear_solve(use_dense, lu, dm, piv, k4)
            # stage 5
            for i in range(n):
                ynew[i] = y[i] + A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]
            rhs(ynew, p, u, f)
            for i in range(n):
                k5[i] = f[i] + inv_h * (C51 * k1[i] + C52 * k2[i] + C53 * k3[i] + C54 * k4[i])
            linear_solve(use_dense, lu, dm, piv, k5)
            # embedded (order 3) solution, then the last stage gives the error
            for i in range(n):
                ynew[i] += k5[i]
            rhs(ynew, p, u, f)
            for i in range(n):
                k6[i] = f[i] + inv_h * (
                    C61 * k1[i] + C62 * k2[i] + C63 * k3[i] + C64 * k4[i] + C65 * k5[i]
                )
            linear_solve(use_dense, lu, dm, piv, k6)
            # Non-negative states (Shampine, Thompson, Kierzenka & Byrne, Appl.
            # Math. Comput. 170, 2005): a negative value counts as error, so a
            # step whose undershoot exceeds the tolerance is rejected; one within
            # it is projected to 0 on acceptance (the true value is >= 0 and
            # within atol of the step's), never carried on into the readouts.
            err = 0.0
            for i in range(n):
                ynew[i] += k6[i]
                sc = atol[i] + rtol * max(abs(y[i]), abs(ynew[i]))
                e = k6[i]
                if nonneg[i] and ynew[i] < 0.0:
                    e = max(abs(e), -ynew[i])
                err += (e / sc) ** 2
            err = math.sqrt(err / n)
            if not err <= 1.0:  # also catches NaN
                rejects += 1
                if err == err:
                    h *= max(0.2, 0.9 * err**-0.25)
                else:
                    h *= 0.25
                rejected = True
                if h < 1e-12 * max(1.0, abs(t)):
                    status = STATUS_STEP_TOO_SMALL
                    break
                continue
            # accepted: fill outputs in (t, t + h] from the dense output
            t_new = t_end if last else t + h
            t_stop = t_new  # the step ends here, or at an event inside it
            fire = False
            theta_first = 1.0
            if N_EVENTS > 0:
                for i in range(n):
                    yd[i] = 0.0 if nonneg[i] and ynew[i] < 0.0 else ynew[i]
                event_triggers(yd, p, u, g1)
                if crossings(g0, g1, crossed):
                    for i in range(n):
                        dense1[i] = (
                            H21 * k1[i] + H22 * k2[i] + H23 * k3[i] + H24 * k4[i] + H25 * k5[i]
                        )
                        dense2[i] = (
                            H31 * k1[i] + H32 * k2[i] + H33 * k3[i] + H34 * k4[i] + H35 * k5[i]
                        )
                    for k in range(N_EVENTS):
                        if crossed[k]:
                            d = EVENT_DIRECTION[k]
                            theta_ev[k] = locate_event(
                                k,
                                d * g0[k],
                                d * g1[k],
                                h,
                                y,
                                ynew,
                                dense1,
                                dense2,
                                p,
                                u,
                                nonneg,
                                yd,
                                gt,
                            )
                            theta_first = min(theta_first, theta_ev[k])
                    fire = True
                    if theta_first < 1.0:
                        t_stop = t + theta_first * h
            if j_out < n_out and t_out[j_out] <= t_stop:
                for i in range(n):
                    dense1[i] = H21 * k1[i] + H22 * k2[i] + H23 * k3[i] + H24 * k4[i] + H25 * k5[i]
                    dense2[i] = H31 * k1[i] + H32 * k2[i] + H33 * k3[i] + H34 * k4[i] + H35 * k5[i]
            while j_out < n_out and t_out[j_out] <= t_stop:
                theta = (t_out[j_out] - t) / h
                dense_state(theta, y, ynew, dense1, dense2, nonneg, yd)
                record(yd, p, out_r, out_y, j_out, save_states, r)
                j_out += 1
            if fire:
                # the state at the event, then every crossed event whose
                # trigger is over zero there, in declaration order
                dense_state(theta_first, y, ynew, dense1, dense2, nonneg, yd)
                event_triggers(yd, p, u, gt)
                for i in range(n):
                    y[i] = yd[i]
                t = t_stop
                steps += 1
                for k in range(N_EVENTS):
                    if not (crossed[k] and EVENT_DIRECTION[k] * gt[k] >= 0.0):
                        continue
                    n_events, acted = fire_event(
                        k, t, y, p, ucur, uset, held, uheld, ev_t, ev_k, n_events
                    )
                    if acted and EVENT_TERMINAL[k]:
                        status = STATUS_ENDED_BY_EVENT
                        break
                # the restart compares its triggers with these, taken before
                # the jumps, to catch a trigger the jumps carry over zero
                for k in range(N_EVENTS):
                    g0[k] = gt[k]
                restart = True
                grow = 6.0 if err == 0.0 else min(6.0, max(0.2, 0.9 * err**-0.25))
                if rejected:
                    grow = min(grow, 1.0)  # as after any rejection: no growth
                h_carry = min(h * grow, max_step)
                break
            t = t_new
            for i in range(n):
                y[i] = 0.0 if nonneg[i] and ynew[i] < 0.0 else ynew[i]
            steps += 1
            if t < t_end:
                rhs(y, p, u, f0)
            if N_EVENTS > 0:
                for k in range(N_EVENTS):
                    g0[k] = g1[k]
            have_jacobian = False
            factor_h = 6.0 if err == 0.0 else min(6.0, max(0.2, 0.9 * err**-0.25))
            if rejected:
                factor_h = min(factor_h, 1.0)
            rejected = False
            h = min(h * factor_h, max_step)
        if status != STATUS_OK:
            break
        if not restart:
            s += 1
    while j_out < n_out:
        for k in range(N_READOUTS):
            out_r[j_out, k] = np.nan
        if save_states:
            for k in range(N_STATES):
                out_y[j_out, k] = np.nan
        j_out += 1
    # the state where the course ended: the last day, or a terminal event
    for i in range(n):
        y_end[i] = y[i]
    return status, steps, rejects, n_events


@nb.njit(cache=True, parallel=True, error_model="numpy")
def integrate_cohort(
    y0,
    params,
    seg_t,
    seg_u,
    n_seg,
    t_out,
    rtol,
    atol,
    max_step,
    save_states,
    max_steps,
    nonneg,
    out_r,
    out_y,
    status,
    steps,
    rejects,
    ev_t,
    ev_k,
    ev_n,
    y_end,
):
    for i in nb.prange(y0.shape[0]):
        st, ns, nr, ne = integrate_patient(
            y0[i],
            params[i],
            seg_t[i],
            seg_u[i],
            n_seg[i],
            t_out,
            rtol,
            atol[i],
            max_step,
            save_states,
            max_steps,
            nonneg,
            out_r[i],
            out_y[i],
            ev_t[i],
            ev_k[i],
            y_end[i],
        )
        ev_n[i] = ne
        status[i] = st
        steps[i] = ns
        rejects[i] = nr
