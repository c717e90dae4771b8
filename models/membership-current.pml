/*
 * membership-current.pml -- the elastic membership protocol (shrink / join / admit) of
 * swift-collectives AS THE SWIFT CODE DID IT BEFORE COMMIT 957bdef.  Spin 6: spin -a; gcc -DSAFETY; ./pan
 *
 * EXPECTED RESULT: an assertion violation -- the job splits into two jobs (README.md).
 * membership.pml models the protocol the Swift code has now (commit 957bdef and later: successors decided in the store).
 *
 * Modelled from (as of commit b7d2d05, before 957bdef rewrote them; see README.md):
 *   Sources/Collectives/Communicator/Communicator+Shrink.swift  Communicator.shrink(grace:)
 *   Sources/Collectives/Communicator/Communicator+Join.swift    Communicator.admitJoining(maximumWorldSize:awaiting:),
 *                                                              Communicator.join(store:options:timeout:),
 *                                                              Communicator.connect(store:generation:...),
 *                                                              JoinKeys.claimWaitingTickets(in:room:awaiting:...)
 *   Sources/Collectives/Algorithms/Broadcast.swift              Broadcast.binomial (the plan is 8 bytes: binomial tree)
 *   Sources/CollectivesBootstrap/Bootstrap.swift                Bootstrap.connect (rank claims, addresses, establish)
 *   Sources/mnist-train/MNISTTrain.swift                        the caller: failed admission or epoch -> shrink()
 *
 * Processes: old ranks 0..N-1 and joiners N..N+J-1 (joiner j takes ticket j+1, so identity order
 * is rank order in every communicator).  A communicator is the bit mask of its members'
 * identities; a rank number is a position in it.
 *
 * Time and failure.  A process rests only at waits.  Each atomic step runs from one wait to the
 * next, one store call or message after another, with a crash point (CP) after each of them:
 * other processes act on other keys or wait for write-once keys, so they cannot tell this
 * grouping from an interleaving (the races -- add() on a claim or decider key -- stay separate
 * steps of separate processes).  At most CRASHES processes crash: before the boundary (init),
 * after any store call or message, or while waiting once nothing else can move.  A wait with a
 * deadline may give up at any moment while what it waits for is missing (slow peers; with
 * -DEAGER=0 only when nothing else can move).  Shrink's grace period may end at any moment.
 * A joiner may also give up at any moment before rank 0 examined the tickets (the claim race).
 * The store (the launcher's TCPStore) is reliable and outlives the ranks: its keys are global
 * variables named after the Swift keys.  Messages of the first communicator's broadcast are
 * one buffer slot per receiver (plan_to).
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
#ifndef CLAIMS_OK
#define CLAIMS_OK false     /* -DCLAIMS_OK=true: do not assert (d) */
#endif

#define NP (N+J)
#define MAXG 8              /* generations modelled (asserted) */
#define C0 ((1<<N)-1)       /* the job's first communicator: old ranks 0..N-1 */
#define ROOM (MAXWORLD-N)
#define FULL(w) ((1<<(w))-1)

#define ACTIVE  0
#define RUNNING 1           /* goes on in a job: its communicator was made */
#define STOPPED 2           /* stopped with an error */
#define CRASHED 3

#if VICTIM == 255
#define MAY_CRASH (crashes > 0)
#else
#define MAY_CRASH (crashes > 0 && me == VICTIM)
#endif

/* ============ the store: keys named as in the Swift code ============ */

/* Communicator+Join.swift, enum JoinKeys */
byte elastic_join_tickets;               /* JoinKeys.tickets  "elastic/join/tickets"  (counter) */
byte elastic_join_examined;              /* JoinKeys.examined "elastic/join/examined" (counter) */
bit  elastic_join_claim[J+1];            /* JoinKeys.claim(ticket:) "elastic/join/claim/<t>": 1 once an add returned 1 */
byte elastic_join_admission_gen[J+1];    /* JoinKeys.admission(ticket:) "elastic/join/admission/<t>" = "gen,rank,world" */
byte elastic_join_admission_rank[J+1];   /*   gen 0: not set                                                         */
byte elastic_join_admission_world[J+1];

/* Communicator+Shrink.swift, shrink(): prefix "elastic/<generation>" */
byte elastic_g_alive[MAXG];              /* "\(prefix)/alive/\(rank)": bit `rank` once set        */
bit  elastic_g_decider[MAXG];            /* "\(prefix)/decider": 1 once an add returned 1          */
byte elastic_g_survivors[MAXG];          /* "\(prefix)/survivors": ranks (bit mask); 0 = not set   */

/* Bootstrap.connect through PrefixStore(prefix: "elastic/<generation>/job") (Communicator.connect) */
byte elastic_g_job_rank_claims[MAXG];    /* "rank/<r>/claims": bit r once claimed */
byte elastic_g_job_rank_address[MAXG];   /* "rank/<r>/address"                    */
bit  elastic_g_job_job_error[MAXG];      /* "job/error"                           */

/* ============ the first communicator's transport: binomial broadcast of admitJoining's `plan` ============ */
byte plan_to[N];                          /* plan[0]+2 arrived in rank r's socket; 0 = nothing */

/* ============ processes ============ */
byte crashes = CRASHES;
byte st[8];                               /* ACTIVE RUNNING STOPPED CRASHED */
bit  crashed[8];
bit  hold[8];                             /* on its communicator, not aborted            */
byte pjob[8];                             /* generation its communicator was made under  */
byte pcm[8];                              /* members of its communicator                 */

/* ghosts: for the properties, and to leave out interleavings that cannot matter */
byte ghost_admitted;                      /* identities of the tickets rank 0 claimed and admits */
bit  ghost_gave_up[J+1];                  /* the joiner of ticket t gave it up                   */
byte ghost_formed[MAXG];                  /* members of the job made under generation g          */
bit  ghost_tickets_open = 1;              /* a ticket taken now can still be examined            */

hidden byte si, sk, sq, sm, slj, slm, slive;     /* scratch, always set before use within a step */

#define DIE     crashes--; crashed[me] = 1; st[me] = CRASHED; hold[me] = 0; \
                if :: me == 0 -> ghost_tickets_open = 0 :: else fi; \
                printf("MSC: %d CRASHES\n", me); goto dead
/* crash point: the process may crash here (inside a step) */
#define CP      if :: skip :: MAY_CRASH -> DIE fi
/* a wait: may also crash while waiting once nothing else can move */
#define CRASH_WAITING   :: atomic { timeout && MAY_CRASH -> DIE }
#define STOP(why)       st[me] = STOPPED; hold[me] = 0; printf("MSC: process %d stops: ", me); printf(why); printf("\n"); goto dead

/* member q of p's communicator is gone: p's next collective fails */
#define MEMBER_GONE(p, q) (((pcm[p] >> (q)) & 1) && (crashed[q] || !hold[q] || pjob[q] != pjob[p] || pcm[q] != pcm[p]))
#define BROKEN(p) (MEMBER_GONE(p,0) || MEMBER_GONE(p,1) || MEMBER_GONE(p,2) || MEMBER_GONE(p,3) || \
                   MEMBER_GONE(p,4) || MEMBER_GONE(p,5) || MEMBER_GONE(p,6) || MEMBER_GONE(p,7))
/* rank q of the first communicator takes no part in its broadcast any more */
#define GONE_C0(q) (crashed[q] || !hold[q] || pjob[q] != 0)
#define LOWBIT(v) ((v) & (256 - (v)))
/* TCPTransport.establish reaches member q of the communicator nm being made under g */
#define THERE(q) (((nm >> (q)) & 1) == 0 || !crashed[q] && hold[q] && pjob[q] == g)
#define ALL_THERE (THERE(0) && THERE(1) && THERE(2) && THERE(3) && THERE(4) && THERE(5) && THERE(6) && THERE(7))

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

/* Communicator.shrink, up to the grace period: abort(); mark alive */
inline shrinkEnter() {
  g = egen + 1;                                      /* let generation = elasticGeneration + 1 */
  assert(g < MAXG);
  egen = g;                                          /* elasticGeneration = generation */
  hold[me] = 0; pjob[me] = cg; pcm[me] = cm;         /* abort() */
  countBelow(cm, me, k); countBelow(cm, 8, w);
  elastic_g_alive[g] = elastic_g_alive[g] | (1 << k);   /* set("\(prefix)/alive/\(rank)", "1") */
  printf("MSC: process %d shrinks under elastic/%d\n", me, g);
  planv = 0; mask = 0; t = 0; first = 0; x = 0; cnt = 0; fl = 0; nm = 0; admitting = 0;
  CP;
  goto grace
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
  cm = nm; cg = g; egen = g; admitting = 0; k = 0; w = 0; nm = 0; g = 0;   /* communicator.elasticGeneration = generation */
  CP;
  goto running
}

/* Communicator.connect threw */
inline connectFail() {
  if
  :: admitting ->                                    /* admitJoining threw: the app shrinks the communicator from before */
     printf("MSC: rank %d: connecting the grown job failed\n", me); cm = C0; cg = 0; shrinkEnter()
  :: else -> STOP("connect failed")                  /* shrink() / join() threw: the process ends */
  fi
}

/* Communicator.connect -> Bootstrap.connect(PrefixStore("elastic/<g>/job")), up to waitForAll */
inline connectPublish() {
  if
  :: w == 1 -> formStep()                            /* a world of one: no rendezvous */
  :: else ->
     if                                              /* add("rank/<r>/claims", 1) > 1 ? */
     :: (elastic_g_job_rank_claims[g] >> k) & 1 ->
        assert(CLAIMS_OK);                           /* (d) "rank k was claimed by two processes" */
        elastic_g_job_job_error[g] = 1;              /* set("job/error"); throw */
        connectFail()
     :: else ->
        elastic_g_job_rank_claims[g] = elastic_g_job_rank_claims[g] | (1 << k);
        elastic_g_job_rank_address[g] = elastic_g_job_rank_address[g] | (1 << k);   /* set("rank/<r>/address") */
        pjob[me] = g; pcm[me] = nm; hold[me] = 1;
        CP;
        goto addresses
     fi
  fi
}

/* admitJoining after `try broadcast(&plan, root: 0)`: the plan, or the error */
inline planKnown() {
  if
  :: fl || planv == 1 ->                             /* broadcast threw, or plan[0] < 0: throw */
     if :: fl && ghost_admitted != 0 && me != 0 -> REACHED(7) :: else fi;   /* REACH 7: no plan, though tickets were claimed */
     printf("MSC: rank %d: admission failed (broadcast %d, plan %d)\n", me, fl, planv - 2);
     cm = C0; cg = 0; shrinkEnter()                  /* the app shrinks the communicator from before */
  :: !fl && planv == 2 ->                            /* count == 0: return nil, keep the communicator */
     st[me] = RUNNING;
     d_step { checkOneJob() };
     printf("MSC: rank %d: nobody admitted, goes on in generation %d\n", me, egen);
     planv = 0; mask = 0; t = 0; first = 0; x = 0; cnt = 0; g = 0;
     CP;
     goto running
  :: else
  fi;
  egen = g;                                          /* elasticGeneration = generation: only where the broadcast worked */
  printf("MSC: rank %d: plan %d, elasticGeneration = %d\n", me, planv - 2, g);
  if
  :: me == 0 ->
     x = first; k = 0;
     do                                              /* set(admission(ticket:), "g,N+i,grown"), after the broadcast */
     :: x <= t ->
        if
        :: (ghost_admitted >> (N + x - 1)) & 1 ->
           assert(!ghost_gave_up[x]);                /* (b) a joiner that gave up is never admitted */
           elastic_join_admission_gen[x] = g; elastic_join_admission_rank[x] = N + k;
           elastic_join_admission_world[x] = N + planv - 2; k++;
           CP
        :: else
        fi; x++
     :: else -> break
     od
  :: else
  fi;
  k = me; w = N + planv - 2; nm = C0 | ghost_admitted; admitting = 1;
  planv = 0; mask = 0; t = 0; first = 0; x = 0; cnt = 0;
  connectPublish()
}

/* rank 0: claim the tickets waiting, ticket after ticket: add(claim(ticket: next), 1) == 1 */
inline claimTickets() {
  do
  :: x <= t && cnt < ROOM ->
     if
     :: !elastic_join_claim[x] -> elastic_join_claim[x] = 1; cnt++; ghost_admitted = ghost_admitted | (1 << (N + x - 1));
        printf("MSC: rank 0 claims ticket %d\n", x)
     :: else
     fi; x++;
     CP
  :: else -> break
  od
}

/* rank 0, once claimWaitingTickets returned (fl: it threw), to the end of its broadcast */
inline afterClaims() {
  if
  :: !fl -> elastic_join_examined = elastic_join_examined + (x - first)   /* add(examined, next - first) */
  :: else
  fi;
  ghost_tickets_open = 0;
#if AWAITING > 0
  assert(fl || cnt >= AWAITING);                     /* (e) admitted as many as it waited for, or threw */
#endif
  CP;
  planv = cnt + 2;
  if
  :: fl -> planv = 1                                 /* decisionError: plan = [-1] */
  :: else
  fi;
  mask = 1;                                          /* broadcast(&plan, root: 0) */
  do :: mask * 2 < N -> mask = mask * 2 :: else -> break od;
  fl = 0;
  sendPlan();
  planKnown()
}

/* shrink: the survivors list was read */
inline readSurvivors() {
  if
  :: ((elastic_g_survivors[g] >> k) & 1) == 0 -> REACHED(4); STOP("left out")      /* REACH 4 */
  :: else
  fi;
  /* ghost: members' identities. An old rank shrinking the communicator from before a failed admission reads
     rank numbers of the grown one when a joiner decided: old ranks keep their numbers, joiners follow */
  if :: cm == C0 -> slj = C0 | ghost_admitted :: else -> slj = cm fi;
  ranksToIds(slj, elastic_g_survivors[g], nm);
  countBelow(elastic_g_survivors[g], k, sm); k = sm;
  countBelow(elastic_g_survivors[g], 8, w);
  connectPublish()
}

/* the joiner read its admission */
inline joinerAdmitted() {
  g = elastic_join_admission_gen[t]; k = elastic_join_admission_rank[t];
  w = elastic_join_admission_world[t]; nm = C0 | ghost_admitted; t = 0;
  connectPublish()
}

proctype Proc(byte me; bit noticed) {
  byte egen;         /* Communicator.elasticGeneration (of the communicator it would shrink) */
  byte cm = C0;      /* members of that communicator */
  byte cg;           /* generation that communicator was made under */
  byte g = 1;        /* generation of the current attempt */
  byte k, w, nm;     /* rank, world size, members of the communicator being connected */
  byte planv;        /* admitJoining's plan[0] + 2:  1 = -1 (failed), 2 = nobody, 3 = one, 4 = two */
  byte mask;         /* binomial round */
  byte t, first, x;  /* tickets */
  byte cnt;          /* tickets rank 0 claimed */
  bit  fl;           /* thrown */
  bit  admitting;    /* connecting the grown communicator of admitJoining */

end_start:           /* (joiners that come after rank 0 looked wait here for good: they never join) */
  if
  /* ---------- an old rank whose epoch failed (a crash before the boundary): the app shrinks ---------- */
  :: atomic { noticed -> printf("MSC: rank %d: its epoch failed\n", me);
       if :: me == 0 -> ghost_tickets_open = 0 :: else fi;   /* no admission: later tickets cannot matter */
       shrinkEnter() }

  /* ---------- rank 0: Communicator.admitJoining ---------- */
  :: atomic { !noticed && me == 0 ->
       /* JoinKeys.claimWaitingTickets */
       t = elastic_join_tickets; first = elastic_join_examined + 1;   /* add(tickets, 0); add(examined, 0) + 1 */
       x = first; cnt = 0; fl = 0;
       CP;
       if
       :: t + 1 - first < AWAITING -> goto awaiting  /* while tickets - first + 1 < awaiting */
       :: else -> claimTickets(); afterClaims()
       fi
     }

  /* ---------- ranks 1..N-1: Communicator.admitJoining = the broadcast of the plan ---------- */
  :: atomic { !noticed && me > 0 && me < N && plan_to[me] != 0 ->   /* exchange.receive(from: v - lowbit(v)) */
       planv = plan_to[me]; mask = LOWBIT(me) / 2; fl = 0;
       CP;
       sendPlan();
       planKnown()
     }
  :: atomic { !noticed && me > 0 && me < N && plan_to[me] == 0 && GONE_C0(me - LOWBIT(me)) ->
       fl = 1; planKnown()                           /* peerGone: broadcast throws */
     }

  /* ---------- joiners: Communicator.join ---------- */
  :: atomic { me >= N && elastic_join_tickets == me - N && ghost_tickets_open ->
       elastic_join_tickets++; t = elastic_join_tickets;            /* add(JoinKeys.tickets, 1) */
       CP;
       goto admission
     }
  fi;

awaiting:                                            /* rank 0: until `awaiting` tickets were TAKEN since those examined */
  if
  :: atomic { t != elastic_join_tickets ->           /* tickets = add(tickets, 0) */
       t = elastic_join_tickets;
       if
       :: t + 1 - first < AWAITING -> goto awaiting
       :: else -> claimTickets(); afterClaims()
       fi
     }
  :: atomic { DEADLINE -> fl = 1; afterClaims() }     /* deadline: decisionError (nothing claimed) */
  CRASH_WAITING
  fi;

admission:                                           /* joiner: getString(admission(ticket:), deadline: timeout) */
  if
  :: atomic { elastic_join_admission_gen[t] != 0 -> joinerAdmitted() }
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
admission2:
  if
  :: atomic { elastic_join_admission_gen[t] != 0 -> joinerAdmitted() }
  :: atomic { elastic_join_admission_gen[t] == 0 && DEADLINE -> STOP("no admission after the claim") }
  CRASH_WAITING
  fi;

grace:                                               /* shrink: until every rank is marked or `grace` passes */
  if
  :: atomic { true ->                                /* grace (3 s) may end at any moment, e.g. while rank 0 saves a checkpoint */
       if                                            /* add("\(prefix)/decider", 1) == 1 */
       :: !elastic_g_decider[g] -> elastic_g_decider[g] = 1;
          CP;
          elastic_g_survivors[g] = elastic_g_alive[g] & FULL(w);   /* set("\(prefix)/survivors", alive) */
          printf("MSC: process %d decides the survivors of elastic/%d: ranks %d\n", me, g, elastic_g_survivors[g]);
          CP
       :: else
       fi;
       if
       :: elastic_g_survivors[g] != 0 -> readSurvivors()
       :: else -> goto survivors
       fi
     }
  CRASH_WAITING
  fi;
survivors:                                           /* getString("\(prefix)/survivors", deadline:) */
  if
  :: atomic { elastic_g_survivors[g] != 0 -> readSurvivors() }
  :: atomic { elastic_g_survivors[g] == 0 && DEADLINE -> REACHED(8); STOP("no survivors list") }   /* REACH 8 */
  CRASH_WAITING
  fi;

addresses:                                           /* waitForAll(addresses); TCPTransport.establish */
  if
  :: atomic { (elastic_g_job_rank_address[g] & FULL(w)) == FULL(w) && ALL_THERE -> formStep() }
  :: atomic { elastic_g_job_job_error[g] || !((elastic_g_job_rank_address[g] & FULL(w)) == FULL(w) && ALL_THERE) && DEADLINE ->
       connectFail() }
  CRASH_WAITING
  fi;

running:
end_running:
  if
  :: atomic { BROKEN(me) -> st[me] = ACTIVE; shrinkEnter() }   /* its next collective fails: the app shrinks */
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
