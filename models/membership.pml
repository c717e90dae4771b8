/*
 * membership.pml -- the elastic membership protocol (shrink / join / admit) of swift-collectives
 * AS THE SWIFT CODE IN THE TREE DOES IT (commit 957bdef "Elastic membership agrees through the
 * store" and later).       Spin 6:  spin -a membership.pml; gcc -DSAFETY; ./pan
 *
 * EXPECTED RESULT: errors: 0, exhaustively (4 ranks, 2 joiners, any one crash at any step).
 * membership-current.pml models the protocol before 957bdef (commit b7d2d05), which splits.
 *
 * THE PROTOCOL (StoreKeys.swift, CollectivesBootstrap/Membership/): generations form a chain; generation g has at most one
 * successor, decided by whoever wins add("elastic/<g>/next", 1) == 1 -- rank 0 admitting joiners
 * (JoinTickets.admit) or the first survivor of a shrink to finish waiting
 * (Membership.decideSurvivors) -- and written to "elastic/<g>/successor" (an ElasticSuccessor:
 * admit|shrink, members, worldSize, tickets) before anyone connects under generation g+1.
 * shrink() follows the successors decided since its communicator's generation that it is a member
 * of (setting "elastic/<g+1>/job/job/error" on the way, so ranks still connecting to g+1 stop),
 * marks itself alive there, and shrinks that generation.
 *
 * Modelled from:
 *   Sources/CollectivesRendezvous/StoreKeys.swift               StoreKeys.Elastic (every key)
 *   Sources/CollectivesBootstrap/Membership/ElasticSuccessor.swift  ElasticSuccessor, ElasticPlace
 *   Sources/CollectivesBootstrap/Membership/Membership+Shrink.swift  Membership.shrink, decideSurvivors, follow, aliveRanks
 *   Sources/CollectivesBootstrap/Membership/Membership.swift    Membership.connect, .admitWaiting, .grow, .join
 *   Sources/CollectivesBootstrap/Membership/JoinTickets*.swift  JoinTickets.admit, .claimWaitingTickets, .handBack,
 *                                                              .requeueStranded, .awaitAdmission
 *   Sources/Collectives/Communicator/Communicator+Shrink.swift  Communicator.shrink(grace:) (aborts, then Membership.shrink)
 *   Sources/Collectives/Communicator/Communicator+Join.swift    Communicator.admitJoining (rank 0's plan broadcast), Communicator.join
 *   Sources/Collectives/Algorithms/Broadcast.swift              Broadcast.binomial (the plan is 8 bytes: binomial tree)
 *   Sources/CollectivesBootstrap/Bootstrap.swift                Bootstrap.connect (job/id, rank claims, addresses, waitForAll, establish)
 *   Sources/mnist-train/MNISTTrain.swift                        the caller: a failed admission (broadcast, connect, or the first
 *                                                              collectives on the grown communicator) -> shrink() of the OLD
 *                                                              communicator; a failed epoch -> shrink() of the current one;
 *                                                              a failure in the first collectives after a shrink (goOnWithout:
 *                                                              moved(to:)) or in a joiner's first collectives ends the process.
 *
 * Not modelled: the joiner's settings (JoinTickets.acceptsSettings: treated as equal, so every
 * claimed ticket is accepted, even one whose joiner crashed before writing them); the store's own
 * failure; later epoch boundaries (one admission per run, then any number of shrinks).
 *
 * Processes: old ranks 0..N-1 and joiners N..N+J-1 (joiner j takes ticket j+1 first, so identity
 * order is rank order in every communicator: asserted where it could break).  A communicator is
 * the bit mask of its members' identities; a rank number is a position in it.  Every process
 * computes the members of the communicator it connects from what IT read in the store (its own
 * view), so (c) compares views.
 *
 * Time and failure.  A process rests only at waits.  Each atomic step runs from one wait to the
 * next, one store call or message after another, with a crash point (CP) after each write:
 * other processes act on other keys or wait for write-once keys, so they cannot tell this
 * grouping from an interleaving (the races -- add() on a claim or next key -- stay separate steps
 * of separate processes; README.md, "Abstractions", gives the two places where a write is not
 * write-once).  At most CRASHES processes crash: before the boundary (init), after any store call
 * or message, or while waiting once nothing else can move.  A wait with a deadline may give up at
 * any moment while what it waits for is missing (slow peers; with -DEAGER=0 only when nothing
 * else can move).  Shrink's grace period may end at any moment.  A joiner may give up at any
 * moment before rank 0 examined the tickets (the claim race).  The store (the launcher's
 * TCPStore) is reliable and outlives the ranks: its keys are global variables named after the
 * Swift keys.  The first communicator's broadcast: one buffer slot per receiver (plan_to).
 */

#ifndef N
#define N 4                 /* ranks before admission; binomial tree of root 0 (N=4: 0->2, 0->1, 2->3) */
#endif
#ifndef J
#define J 2                 /* processes calling Communicator.join */
#endif
#ifndef MAXWORLD
#define MAXWORLD (N+J)      /* admitJoining(maximumWorldSize:) */
#endif
#ifndef AWAITING
#define AWAITING 0          /* admitJoining(awaiting:) */
#endif
#ifndef MIXED
#define MIXED 1             /* a crash before the boundary: each old rank's epoch may have failed (-> shrink) or not */
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef VICTIM
#define VICTIM 255          /* -DVICTIM=v: only process v may crash (the union over v covers any one crash) */
#endif
#ifndef EAGER
#define EAGER 1             /* a deadline may pass early (slow peers); -DEAGER=0: only when nothing else can move */
#endif
#if EAGER
#define DEADLINE true
#else
#define DEADLINE timeout
#endif
#ifndef REACH
#define REACH 0             /* -DREACH=n: situation n below is reported as an error, to show it is reached */
#endif
#define REACHED(n) assert(REACH != n)
#ifndef SPLIT_ABORT
#define SPLIT_ABORT 0       /* 1: an interleaving point between shrink()'s abort() and its first store call */
#endif
#ifndef CLAIMS_OK
#define CLAIMS_OK false     /* -DCLAIMS_OK=true: do not assert (d) */
#endif

#define NP (N+J)
#define NT (2*J)            /* tickets: each joiner's first, and one more after a requeue or a failed connect */
#define MAXG 8              /* generations modelled (asserted) */
#define C0 ((1<<N)-1)       /* the job's first communicator: old ranks 0..N-1, generation 0 */
#define ROOM (MAXWORLD-N)
#define WANTED (AWAITING < ROOM -> AWAITING : ROOM)   /* claimWaitingTickets: min(awaiting, room) */
#define FULL(w) ((1<<(w))-1)
#define REQUEUE 255         /* admission "requeue" (StoreKeys.Elastic.requeue) */
#define ADMIT  1            /* ElasticSuccessor.Kind.admitted ("admit") */
#define SHRINK 2            /* ElasticSuccessor.Kind.shrunk ("shrink") */

#define ACTIVE  0
#define RUNNING 1           /* goes on in a job: its communicator was made */
#define STOPPED 2           /* stopped with an error */
#define CRASHED 3

/* who called Communicator.connect (what a failure leads to) */
#define BY_ADMIT  1         /* admitJoining: throws -> the app shrinks the communicator from before */
#define BY_SHRINK 2         /* shrink: throws -> goOnWithout throws -> the process ends */
#define BY_JOIN   3         /* join: a new ticket while its deadline lasts, else throws */

/* a process just made its communicator; its first collectives on it fail -> (MNISTTrain.swift) */
#define FRESH_ADMIT  1      /* old rank, grown communicator: loadData/header broadcast/moved(to:) in admitJoining's do/catch -> shrink the OLD one */
#define FRESH_JOIN   2      /* joiner: header broadcast, synchronizeOptimizerState: not caught -> ends */
#define FRESH_SHRINK 3      /* after a shrink: goOnWithout's moved(to:) throws -> ends */

#if VICTIM == 255
#define MAY_CRASH (crashes > 0)
#else
#define MAY_CRASH (crashes > 0 && me == VICTIM)
#endif

/* ============ the store: keys named as in the Swift code (StoreKeys.Elastic) ============ */

byte elastic_join_tickets;               /* StoreKeys.Elastic.tickets  "elastic/join/tickets"  (counter) */
byte elastic_join_examined;              /* StoreKeys.Elastic.examined "elastic/join/examined" (counter) */
bit  elastic_join_claim[NT+1];           /* StoreKeys.Elastic.claim(ticket:) "elastic/join/claim/<t>": 1 once an add returned 1 */
byte elastic_join_admission_gen[NT+1];   /* StoreKeys.Elastic.admission(ticket:) "elastic/join/admission/<t>" = "gen,rank,world"; */
byte elastic_join_admission_rank[NT+1];  /*   gen 0: not set; REQUEUE: "requeue" (StoreKeys.Elastic.requeue)                    */
byte elastic_join_admission_world[NT+1];

bit  elastic_g_next[MAXG];               /* StoreKeys.Elastic.next(g) "elastic/<g>/next": 1 once an add returned 1   */
byte elastic_g_successor_kind[MAXG];     /* StoreKeys.Elastic.successor(g) "elastic/<g>/successor": 0 = not set,     */
byte elastic_g_successor_members[MAXG];  /*   ADMIT|SHRINK; members: ranks of g (bit mask); worldSize; tickets */
byte elastic_g_successor_world[MAXG];    /*   (bit t = ticket t)                                               */
byte elastic_g_successor_tickets[MAXG];
byte elastic_g_alive[MAXG];              /* StoreKeys.Elastic.alive(g, r) "elastic/<g>/alive/<r>": bit r once set     */

/* Bootstrap.connect through PrefixStore(prefix: StoreKeys.Elastic.job(g) = "elastic/<g>/job") */
byte elastic_g_job_rank_claims[MAXG];    /* "rank/<r>/claims": bit r once claimed                           */
byte elastic_g_job_rank_address[MAXG];   /* "rank/<r>/address" (rank 0 sets "job/id" in the same step)       */
bit  elastic_g_job_job_error[MAXG];      /* "job/error" (set by follow(), or by a rank claimed twice)         */

/* ============ the first communicator's transport: binomial broadcast of admitJoining's `plan` ============ */
byte plan_to[N];                          /* plan[0]+2 arrived in rank r's socket; 0 = nothing */

/* ============ processes ============ */
byte crashes = CRASHES;
byte st[8];                               /* ACTIVE RUNNING STOPPED CRASHED */
bit  crashed[8];
bit  hold[8];                             /* on a communicator (made or being connected), not aborted */
byte pjob[8];                             /* generation that communicator is made under               */
byte pcm[8];                              /* its members                                              */

/* ghosts: for the properties, and to leave out interleavings that cannot matter */
bit  ghost_gave_up[NT+1];                 /* the joiner of ticket t gave it up                   */
byte ghost_formed[MAXG];                  /* members of the job made under generation g          */
bit  ghost_tickets_open = 1;              /* a ticket taken now can still be examined            */

hidden byte si, sk, sq, sm, slj, slm, slive;     /* scratch, always set before use within a step */

/* a process that ended forgets its locals (fewer states: nothing reads them) */
#define FORGET  cm = 0; cg = 0; fresh = 0; pg = 0; pr = 0; pw = 0; pv = 0; g = 0; k = 0; w = 0; nm = 0; by = 0; \
                planv = 0; mask = 0; t = 0; first = 0; next = 0; x = 0; cnt = 0; fl = 0
#define DIE     FORGET; crashes--; crashed[me] = 1; st[me] = CRASHED; hold[me] = 0; \
                if :: me == 0 -> ghost_tickets_open = 0 :: else fi; \
                printf("MSC: %d CRASHES\n", me); goto dead
/* crash point: the process may crash here (inside a step) */
#define CP      if :: skip :: MAY_CRASH -> DIE fi
/* a wait: may also crash while waiting once nothing else can move */
#define CRASH_WAITING   :: atomic { timeout && MAY_CRASH -> DIE }
#define STOP(why)       FORGET; st[me] = STOPPED; hold[me] = 0; printf("MSC: process %d stops: ", me); printf(why); printf("\n"); goto dead

/* member q of p's communicator is gone: p's next collective fails */
#define MEMBER_GONE(p, q) (((pcm[p] >> (q)) & 1) && (crashed[q] || !hold[q] || pjob[q] != pjob[p] || pcm[q] != pcm[p]))
#define BROKEN(p) (MEMBER_GONE(p,0) || MEMBER_GONE(p,1) || MEMBER_GONE(p,2) || MEMBER_GONE(p,3) || \
                   MEMBER_GONE(p,4) || MEMBER_GONE(p,5) || MEMBER_GONE(p,6) || MEMBER_GONE(p,7))
/* rank q of the first communicator takes no part in its broadcast any more */
#define GONE_C0(q) (crashed[q] || !hold[q] || pjob[q] != 0)
#define LOWBIT(v) ((v) & (256 - (v)))
/* TCPTransport.establish reaches member q of the communicator nm being made under g */
#define THERE(q) (((nm >> (q)) & 1) == 0 || !crashed[q] && hold[q] && pjob[q] == g && pcm[q] == nm)
#define ALL_THERE (THERE(0) && THERE(1) && THERE(2) && THERE(3) && THERE(4) && THERE(5) && THERE(6) && THERE(7))
#define ADDRESSES ((elastic_g_job_rank_address[g] & FULL(w)) == FULL(w))

inline countBelow(m, below, out) {      /* bits of m below bit `below` */
  out = 0; si = 0;
  do
  :: si < below -> if :: (m >> si) & 1 -> out++ :: else fi; si++
  :: else -> break
  od
}

inline ranksToIds(cm, s, out) {         /* rank numbers s of communicator cm -> identities */
  out = 0; si = 0; sk = 0;
  do
  :: si < 8 ->
     if
     :: (cm >> si) & 1 -> if :: (s >> sk) & 1 -> out = out | (1 << si) :: else fi; sk++
     :: else
     fi; si++
  :: else -> break
  od
}

/* the identities of the joiners of admitted tickets (bit t): ticket t <= J is joiner N+t-1's first */
inline ticketsToIds(tk, view, out) {
  out = view; si = 1;
  do
  :: si <= NT ->
     if
     :: (tk >> si) & 1 -> assert(si <= J); assert((out >> (N + si - 1)) == 0); out = out | (1 << (N + si - 1))
     :: else
     fi; si++
  :: else -> break
  od
}

/* (a),(b): never two live jobs (a job is live when all its members go on in it) */
inline checkOneJob() {
  slj = 255; sq = 0;
  do
  :: sq < NP ->
     if
     :: st[sq] == RUNNING ->
        slive = 1; sm = 0;
        do
        :: sm < NP ->
           if
           :: ((pcm[sq] >> sm) & 1) && !(st[sm] == RUNNING && pjob[sm] == pjob[sq] && pcm[sm] == pcm[sq]) -> slive = 0
           :: else
           fi; sm++
        :: else -> break
        od;
        if
        :: slive && slj == 255 -> slj = pjob[sq]; slm = pcm[sq]
        :: slive && slj != 255 -> assert(slj == pjob[sq] && slm == pcm[sq])   /* (a) one job */
        :: else
        fi
     :: else
     fi; sq++
  :: else -> break
  od
}

/* Broadcast.binomial: postSend(to: v + mask) for the remaining masks, highest first */
inline sendPlan() {
  do
  :: mask == 0 -> break
  :: mask > 0 && me + mask >= N -> mask = mask / 2
  :: mask > 0 && me + mask < N ->
     if
     :: plan_to[me + mask] = planv                   /* completes into the socket's buffer */
     :: !fl && GONE_C0(me + mask) -> fl = 1          /* peerGone (waitForSends throws) */
     :: fl -> skip                                   /* not posted after the failure */
     fi;
     mask = mask / 2;
     CP
  od
}

/* Communicator.shrink(grace:) on the communicator of members V made under generation G:
   var place = ElasticPlace(generation: elasticGeneration, rank: rank, worldSize: worldSize); abort() */
inline shrinkEnter(V, G) {
  pg = G; pv = V; countBelow(pv, me, pr); countBelow(pv, 8, pw);
  hold[me] = 0; st[me] = ACTIVE;                     /* abort() */
  printf("MSC: process %d shrinks from generation %d (rank %d of %d)\n", me, pg, pr, pw);
  planv = 0; mask = 0; t = 0; first = 0; next = 0; x = 0; cnt = 0; fl = 0; g = 0; k = 0; w = 0; nm = 0; by = 0; fresh = 0; cm = 0; cg = 0;
  CP;
#if SPLIT_ABORT
  goto follow                                        /* -DSPLIT_ABORT=1: others may act between abort() and follow() */
#else
  followAndMarkAlive()
#endif
}

/* StoreKeys.Elastic.job(g), Membership.connect -> Bootstrap.connect: g, k (rank), w (world), nm (members, this process's view) */
inline connectStart() {
  if
  :: w == 1 -> formStep()                            /* Bootstrap.connect: worldSize 1 -> SingleRankTransport, no rendezvous */
  :: else ->
     if                                              /* add("rank/<r>/claims", 1) > 1 ? */
     :: (elastic_g_job_rank_claims[g] >> k) & 1 ->
        assert(CLAIMS_OK);                           /* (d) "rank k was claimed by two processes" */
        elastic_g_job_job_error[g] = 1;              /* try? set("job/error"); throw */
        connectFail()
     :: else ->
        elastic_g_job_rank_claims[g] = elastic_g_job_rank_claims[g] | (1 << k);
        elastic_g_job_rank_address[g] = elastic_g_job_rank_address[g] | (1 << k);   /* (rank 0: set("job/id")); set("rank/<r>/address") */
        pjob[me] = g; pcm[me] = nm; hold[me] = 1;
        CP;
        goto addresses
     fi
  fi
}

/* the communicator is made: go on in the job */
inline formStep() {
  st[me] = RUNNING; pjob[me] = g; pcm[me] = nm; hold[me] = 1;
  d_step {
    if                                               /* (c) one member list per generation */
    :: ghost_formed[g] == 0 -> ghost_formed[g] = nm
    :: else -> assert(ghost_formed[g] == nm)
    fi;
    checkOneJob()
  };
  if :: nm > C0 -> REACHED(5) :: else fi;           /* REACH 5: a grown job is made */
  if :: g >= 3 -> REACHED(6) :: else fi;            /* REACH 6: a job of generation 3 or later is made */
  if :: nm > C0 && g >= 2 -> REACHED(9) :: else fi; /* REACH 9: a joiner goes on in a shrunk job */
  printf("MSC: process %d goes on in the job of generation %d, members %d\n", me, g, nm);
  fresh = (by == BY_ADMIT -> FRESH_ADMIT : (by == BY_JOIN -> FRESH_JOIN : FRESH_SHRINK));
  cm = nm; cg = g;                                   /* communicator.elasticGeneration = generation */
  k = 0; w = 0; nm = 0; g = 0; by = 0; t = 0; pg = 0; pr = 0; pw = 0; pv = 0;
  CP;
  goto running
}

/* Communicator.connect threw */
inline connectFail() {
  hold[me] = 0;
  if
  :: by == BY_ADMIT ->                               /* admitJoining threw: the app shrinks the communicator from before */
     printf("MSC: rank %d: connecting the grown job failed\n", me); shrinkEnter(C0, 0)
  :: by == BY_SHRINK -> STOP("connecting the shrunk job failed")   /* shrink() threw: goOnWithout throws, the process ends */
  :: by == BY_JOIN ->                                /* join: catch where !deadline.hasPassed -> wait for the next admission */
     if
     :: REACHED(12); printf("MSC: joiner %d: connecting failed, takes a new ticket\n", me);
        by = 0; g = 0; k = 0; w = 0; nm = 0;
        goto newTicket
     :: DEADLINE -> STOP("join: connecting failed after its deadline")
     fi
  fi
}

/* admitJoining, every rank, after `try broadcast(&plan, root: 0)`: the plan, or the error */
inline planKnown() {
  if
  :: fl || planv == 1 ->                             /* broadcast threw, or plan[0] < 0: throw */
     if :: fl && elastic_g_successor_kind[0] == ADMIT && me != 0 -> REACHED(7) :: else fi;   /* REACH 7: no plan, though the admission was decided */
     printf("MSC: rank %d: admission failed (broadcast %d, plan %d)\n", me, fl, planv - 2);
     shrinkEnter(C0, 0)                              /* the app shrinks the communicator from before (goOnWithout) */
  :: !fl && planv == 2 ->                            /* plan[0] == 0: return nil, keep the communicator */
     st[me] = RUNNING;
     d_step { checkOneJob() };
     printf("MSC: rank %d: nobody admitted, goes on in generation 0\n", me);
     planv = 0; mask = 0; t = 0; first = 0; next = 0; x = 0; cnt = 0;
     CP;
     goto running
  :: !fl && planv > 2 ->
     /* ElasticSuccessor.wait(generation, ...): rank 0 wrote it before the broadcast, so it is there */
     assert(elastic_g_successor_kind[0] != 0);
     if
     :: elastic_g_successor_kind[0] != ADMIT ->      /* "generation 0 was shrunk while joining ranks were admitted" */
        shrinkEnter(C0, 0)
     :: else ->
        /* newRank(of: rank) = rank (members 0..<worldSize); connect(generation: generation + 1, worldSize: successor.worldSize) */
        g = 1; k = me; w = elastic_g_successor_world[0];
        ticketsToIds(elastic_g_successor_tickets[0], C0, nm);
        assert(w == N + planv - 2);
        printf("MSC: rank %d: plan %d, connects generation 1 as rank %d of %d\n", me, planv - 2, k, w);
        planv = 0; mask = 0; t = 0; first = 0; next = 0; x = 0; cnt = 0; by = BY_ADMIT;
        connectStart()
     fi
  fi
}

/* JoinTickets.handBack(claimed, examined:): set(admission(ticket:), "requeue") for each; add(examined, n) */
inline handBack() {
  x = first;
  do
  :: x <= t ->
     if
     :: (cnt >> x) & 1 -> elastic_join_admission_gen[x] = REQUEUE; CP
     :: else
     fi; x++
  :: else -> break
  od;
  if :: next > first -> elastic_join_examined = elastic_join_examined + (next - first); CP :: else fi
}

/* JoinTickets.claimWaitingTickets, one pass: `let tickets = try store.add(StoreKeys.Elastic.tickets, 0)`;
   while next <= tickets && claimed.count < room: add(claim(ticket: next), 1) == 1 (and acceptsSettings: equal) -> claimed.append */
inline claimTickets() {
  t = elastic_join_tickets;
  do
  :: next <= t && x < ROOM ->
     assert(next <= J);                              /* only joiners' first tickets are ever claimed by rank 0 (AWAITING <= 1) */
     if
     :: !elastic_join_claim[next] -> elastic_join_claim[next] = 1; cnt = cnt | (1 << next); x++;
        printf("MSC: rank 0 claims ticket %d\n", next)
     :: else
     fi; next++;
     CP
  :: else -> break
  od
}

/* JoinTickets.admit after claimWaitingTickets returned (fl: it threw), then rank 0's broadcast of the plan.
   Locals: cnt = claimed tickets (bit t), x = claimed.count, first..next-1 = tickets looked at (examined = next - first) */
inline afterClaims() {
  ghost_tickets_open = 0;
  t = next - 1;
#if AWAITING > 0
  assert(fl || x >= AWAITING || x >= ROOM);          /* (e) claimed as many as it waited for, or threw */
#endif
  if
  :: fl -> handBack(); planv = 1                     /* claimWaitingTickets' deadline: handBack, throw .timedOut -> plan = [-1] */
  :: !fl && x == 0 ->                                /* guard !claimed.isEmpty else { add(examined, examined) if > 0; return 0 } */
     if :: next > first -> elastic_join_examined = elastic_join_examined + (next - first); CP :: else fi;
     planv = 2
  :: !fl && x > 0 ->
     if                                              /* add(StoreKeys.Elastic.next(generation), 1) == 1 */
     :: !elastic_g_next[0] -> elastic_g_next[0] = 1;
        if :: elastic_g_alive[0] != 0 -> REACHED(10) :: else fi;   /* REACH 10: admits while a rank shrinks generation 0 */
        CP;
        /* set(successor(generation), ElasticSuccessor(kind: .admitted, members: 0..<worldSize, worldSize: grown, tickets: claimed)) */
        elastic_g_successor_kind[0] = ADMIT; elastic_g_successor_members[0] = C0;
        elastic_g_successor_world[0] = N + x; elastic_g_successor_tickets[0] = cnt;
        printf("MSC: rank 0: elastic/0/successor = admit, world %d\n", N + x);
        CP;
        x = first; k = 0;
        do                                           /* set(admission(ticket:), "\(generation + 1),\(worldSize + i),\(grown)") */
        :: x <= t ->
           if
           :: (cnt >> x) & 1 ->
              assert(!ghost_gave_up[x]);             /* (b) a joiner that gave up is never admitted */
              elastic_join_admission_gen[x] = 1; elastic_join_admission_rank[x] = N + k;
              elastic_join_admission_world[x] = elastic_g_successor_world[0]; k++;
              CP
           :: else
           fi; x++
        :: else -> break
        od;
        elastic_join_examined = elastic_join_examined + (next - first);   /* add(examined, examined) */
        CP;
        planv = k + 2; k = 0
     :: else -> REACHED(2);                          /* REACH 2: a shrink of generation 0 decided first */
        printf("MSC: rank 0: a shrink took elastic/0/next first\n");
        handBack(); planv = 1                        /* handBack; throw .rendezvous -> plan = [-1] */
     fi
  fi;
  mask = 1;                                          /* broadcast(&plan, root: 0) */
  do :: mask * 2 < N -> mask = mask * 2 :: else -> break od;
  fl = 0;
  sendPlan();
  planKnown()
}

/* decideSurvivors: `while true { try follow(&place, ...); set alive` -- then the wait (label grace) */
inline followAndMarkAlive() {
    do                                               /* follow: while let successor = read(place.generation), let rank = newRank(of:) */
    :: elastic_g_successor_kind[pg] == ADMIT ->      /* members 0..<worldSize: every rank of pg is one */
       REACHED(1);                                   /* REACH 1: a shrink follows an admission */
       assert(pg + 1 < MAXG);
       elastic_g_job_job_error[pg + 1] = 1;          /* PrefixStore(StoreKeys.Elastic.job(next)).set("job/error") */
       printf("MSC: process %d follows elastic/%d (admit) and sets elastic/%d/job/job/error\n", me, pg, pg + 1);
       CP;
       ticketsToIds(elastic_g_successor_tickets[pg], pv, pv);   /* (pr: newRank = rank) */
       pw = elastic_g_successor_world[pg]; pg++
    :: elastic_g_successor_kind[pg] == SHRINK && ((elastic_g_successor_members[pg] >> pr) & 1) ->
       assert(pg + 1 < MAXG);
       elastic_g_job_job_error[pg + 1] = 1;
       printf("MSC: process %d follows elastic/%d (shrink) and sets elastic/%d/job/job/error\n", me, pg, pg + 1);
       CP;
       ranksToIds(pv, elastic_g_successor_members[pg], slj); pv = slj;
       countBelow(elastic_g_successor_members[pg], pr, slj); pr = slj;
       pw = elastic_g_successor_world[pg]; pg++
    :: else -> break
    od;
    elastic_g_alive[pg] = elastic_g_alive[pg] | (1 << pr);   /* set(StoreKeys.Elastic.alive(generation, place.rank), "1") */
    printf("MSC: process %d alive in elastic/%d as rank %d of %d\n", me, pg, pr, pw);
    CP;
    goto grace
}

/* the successor of generation pg was read (ElasticSuccessor.wait in decideSurvivors) */
inline successorRead() {
  if
  :: elastic_g_successor_kind[pg] == ADMIT -> followAndMarkAlive()   /* "An admission decided first: shrink the grown generation instead": loop */
  :: elastic_g_successor_kind[pg] == SHRINK && ((elastic_g_successor_members[pg] >> pr) & 1) == 0 ->
     REACHED(4); STOP("left out")                    /* newRank(of:) == nil: "it was left out"; REACH 4 */
  :: elastic_g_successor_kind[pg] == SHRINK && ((elastic_g_successor_members[pg] >> pr) & 1) ->
     /* connect(generation: place.generation + 1, rank: newRank, worldSize: survivors.worldSize) */
     g = pg + 1; assert(g < MAXG);
     countBelow(elastic_g_successor_members[pg], pr, k);
     w = elastic_g_successor_world[pg];
     ranksToIds(pv, elastic_g_successor_members[pg], nm);
     by = BY_SHRINK; pg = 0; pr = 0; pw = 0; pv = 0;
     connectStart()
  fi
}

/* a joiner's ticket: add(StoreKeys.Elastic.tickets, 1) (and set(settings(ticket:)), not modelled) */
inline takeTicket() {
  elastic_join_tickets++; t = elastic_join_tickets;
  printf("MSC: joiner %d takes ticket %d\n", me, t);
  CP;
  goto admission
}

/* the joiner read its admission "g,rank,world": Communicator.connect(generation:rank:worldSize:) */
inline joinerAdmitted() {
  g = elastic_join_admission_gen[t]; k = elastic_join_admission_rank[t]; w = elastic_join_admission_world[t];
  assert(t == me - N + 1);                           /* admitted on its first ticket (the only ones rank 0 claims) */
  ticketsToIds(elastic_g_successor_tickets[g - 1], C0, nm);   /* ghost: the joiner's view of the grown job's members */
  countBelow(nm, me, sm); assert(sm == k);           /* its rank in the admission is its place among the members */
  t = 0; by = BY_JOIN;
  connectStart()
}

proctype Proc(byte me; bit noticed) {
  byte cm = C0;      /* Communicator: members of the communicator it is on */
  byte cg;           /* its elasticGeneration */
  byte fresh;        /* FRESH_*: the communicator was just made, its first collectives are next */
  byte pg, pr, pw, pv;  /* ElasticPlace (generation, rank, worldSize) and the members of that generation as it knows them */
  byte g, k, w, nm;  /* connecting: generation, rank, world size, members */
  byte by;           /* BY_*: who called connect */
  byte planv;        /* admitJoining's plan[0] + 2:  1 = -1 (failed), 2 = nobody, 3 = one, 4 = two */
  byte mask;         /* binomial round */
  byte t, first, next, x;  /* tickets (rank 0: t = tickets read, first..next-1 looked at, x = claimed.count) */
  byte cnt;          /* rank 0: claimed tickets (bit t) */
  bit  fl;           /* thrown */

end_start:           /* (joiners that come after rank 0 looked wait here for good: they never join) */
  if
  /* ---------- an old rank whose epoch failed (a crash before the boundary): the app shrinks ---------- */
  :: atomic { noticed -> printf("MSC: rank %d: its epoch failed\n", me);
       if :: me == 0 -> ghost_tickets_open = 0 :: else fi;   /* no admission: later tickets cannot matter */
       shrinkEnter(C0, 0) }

  /* ---------- rank 0: Communicator.admitJoining -> JoinTickets.admit -> claimWaitingTickets ---------- */
  :: atomic { !noticed && me == 0 ->
       first = elastic_join_examined + 1; next = first;   /* let first = try store.add(StoreKeys.Elastic.examined, 0) + 1 */
       x = 0; cnt = 0; fl = 0;
       claimTickets();
       if
       :: x < WANTED -> goto awaiting                /* claimed.count < wanted: sleep, look again */
       :: else -> afterClaims()
       fi
     }

  /* ---------- ranks 1..N-1: Communicator.admitJoining = the broadcast of the plan ---------- */
  :: atomic { !noticed && me > 0 && me < N && plan_to[me] != 0 ->   /* exchange.receive(from: v - lowbit(v)) */
       planv = plan_to[me]; mask = LOWBIT(me) / 2; fl = 0;
       sendPlan();
       planKnown()
     }
  :: atomic { !noticed && me > 0 && me < N && plan_to[me] == 0 && GONE_C0(me - LOWBIT(me)) ->
       fl = 1; planKnown()                           /* peerGone: broadcast throws */
     }

  /* ---------- joiners: Communicator.join -> JoinTickets.awaitAdmission ---------- */
  :: atomic { me >= N && elastic_join_tickets == me - N && ghost_tickets_open -> takeTicket() }
  fi;

awaiting:                                            /* rank 0: claimWaitingTickets waits for min(awaiting, room) CLAIMED tickets */
  if
  :: atomic { t != elastic_join_tickets ->           /* add(tickets, 0) again */
       claimTickets();
       if
       :: x < WANTED -> goto awaiting
       :: else -> afterClaims()
       fi
     }
  :: atomic { DEADLINE -> fl = 1; afterClaims() }     /* deadline: handBack, throw .timedOut */
  CRASH_WAITING
  fi;

newTicket:                                           /* join: `guard let admission else { continue }` / a failed connect: a new ticket */
  atomic {
    assert(!ghost_tickets_open);                     /* rank 0 looked already: this ticket is never claimed, so nothing
                                                        admits it or hands it back (requeueStranded needs a claim); the
                                                        joiner waits out its deadline and gives it up, which nobody reads */
    elastic_join_tickets++;                          /* add(StoreKeys.Elastic.tickets, 1) */
    STOP("took a new ticket (no later boundary in this model)")
  }

admission:                                           /* joiner: getString(admission(ticket:), deadline: deadline) */
  if
  :: atomic { elastic_join_admission_gen[t] == REQUEUE -> REACHED(3); goto newTicket }   /* "requeue": take a new ticket; REACH 3 */
  :: atomic { elastic_join_admission_gen[t] != 0 && elastic_join_admission_gen[t] != REQUEUE -> joinerAdmitted() }
  :: atomic { elastic_join_admission_gen[t] == 0 && (!elastic_join_claim[t] && ghost_tickets_open || DEADLINE) ->
       if                                            /* .timedOut: gaveUp = add(claim(ticket:), 1) == 1 */
       :: !elastic_join_claim[t] -> elastic_join_claim[t] = 1; ghost_gave_up[t] = 1; STOP("gave its ticket up")
       :: else                                       /* rank 0 claimed it first: its admission is on the way */
       fi;
       CP;
       goto admission2
     }
  CRASH_WAITING
  fi;
admission2:                                          /* getString(admission(ticket:), deadline: connectSeconds) */
  if
  :: atomic { elastic_join_admission_gen[t] == REQUEUE -> REACHED(3); goto newTicket }
  :: atomic { elastic_join_admission_gen[t] != 0 && elastic_join_admission_gen[t] != REQUEUE -> joinerAdmitted() }
  :: atomic { elastic_join_admission_gen[t] == 0 && DEADLINE -> STOP("no admission after the claim") }
  CRASH_WAITING
  fi;

#if SPLIT_ABORT
follow:
  atomic { followAndMarkAlive() }
#endif

grace:                                               /* until every rank is alive, or `grace` passes, or a successor is there */
  if
  :: atomic { true ->                                /* grace (3 s) may end at any moment */
       if                                            /* add(StoreKeys.Elastic.next(generation), 1) == 1 */
       :: !elastic_g_next[pg] -> elastic_g_next[pg] = 1;
          CP;
          sm = elastic_g_alive[pg] & FULL(pw);       /* aliveRanks(generation, place.worldSize, store) */
          /* JoinTickets.requeueStranded: tickets examined+1...tickets claimed and without an admission -> "requeue" */
          x = elastic_join_examined + 1;
          do
          :: x <= elastic_join_tickets ->
             if
             :: elastic_join_claim[x] && elastic_join_admission_gen[x] == 0 ->
                elastic_join_admission_gen[x] = REQUEUE; REACHED(11);   /* REACH 11: a stranded ticket is requeued */
                printf("MSC: process %d requeues ticket %d\n", me, x);
                CP
             :: else
             fi; x++
          :: else -> break
          od;
          x = 0;
          /* set(successor(generation), ElasticSuccessor(kind: .shrunk, members: alive, worldSize: alive.count)) */
          elastic_g_successor_kind[pg] = SHRINK; elastic_g_successor_members[pg] = sm;
          countBelow(sm, 8, slj); elastic_g_successor_world[pg] = slj;
          printf("MSC: process %d: elastic/%d/successor = shrink, ranks %d\n", me, pg, sm);
          CP
       :: else
       fi;
       if
       :: elastic_g_successor_kind[pg] != 0 -> successorRead()
       :: else -> goto survivors
       fi
     }
  CRASH_WAITING
  fi;
survivors:                                           /* ElasticSuccessor.wait(generation, deadline:) */
  if
  :: atomic { elastic_g_successor_kind[pg] != 0 -> successorRead() }
  :: atomic { elastic_g_successor_kind[pg] == 0 && DEADLINE -> REACHED(8); STOP("no successor") }   /* REACH 8 */
  CRASH_WAITING
  fi;

addresses:                                           /* Bootstrap.connect: getString("job/id"), waitForAll(addresses); TCPTransport.establish */
  if
  :: atomic { ADDRESSES && ALL_THERE -> formStep() }
  :: atomic { !ADDRESSES && elastic_g_job_job_error[g] && (k == 0 || (elastic_g_job_rank_address[g] & 1)) ->
       connectFail() }                               /* waitForAll polls "job/error" (not while waiting for "job/id", set by rank 0) */
  :: atomic { !(ADDRESSES && ALL_THERE) && DEADLINE -> connectFail() }
  CRASH_WAITING
  fi;

running:
end_running:
  if
  :: atomic { BROKEN(me) ->                          /* its next collective fails */
       if
       :: fresh == FRESH_ADMIT -> REACHED(13);       /* REACH 13: the first collectives on the grown communicator fail */
          shrinkEnter(C0, 0)                         /* admitJoining's catch: goOnWithout -> shrink() of the communicator from before */
       :: fresh == FRESH_JOIN -> STOP("its first collectives on the grown job failed")
       :: fresh == FRESH_SHRINK -> STOP("its first collectives after a shrink failed")
       :: true -> shrinkEnter(cm, cg)                /* an epoch failed (trainEpoch's catch): shrink() of this communicator */
       fi
     }
  CRASH_WAITING
  fi;

dead:
  skip
}

#if EAGER
/* Progress: with eager deadlines every wait but the start and `running` can give up, so when nothing
   can move an ACTIVE old rank would be stuck at its start (joiners may be: they came too late). */
active proctype Watch() {
  byte p;
end_watch:
  atomic {
    timeout ->
    do
    :: p < N -> assert(st[p] != ACTIVE); p++
    :: else -> break
    od
  }
}
#endif

init {
  byte p, v = 255;
  bit n;
  atomic {
    p = 0;
    do
    :: p < N -> pcm[p] = C0; hold[p] = 1; p++
    :: else -> break
    od;
    if                                               /* a crash before the boundary */
    :: skip
    :: crashes > 0 ->
#if VICTIM == 255
       select (v : 0 .. NP - 1);
#else
       v = VICTIM;
#endif
       crashes--; crashed[v] = 1; st[v] = CRASHED; hold[v] = 0; printf("MSC: %d CRASHES before the boundary\n", v)
    fi;
    p = 0;
    do
    :: p < NP ->
       n = 0;
#if MIXED
       if
       :: p < N && p != v && v != 255 -> if :: n = 0 :: n = 1 fi
       :: else
       fi;
#endif
       if
       :: p != v -> run Proc(p, n)
       :: else
       fi;
       p++
    :: else -> break
    od
  }
}
