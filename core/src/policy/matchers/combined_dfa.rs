//! Many anchored patterns in one lazy DFA: one pass over a value says
//! which patterns match all of it.
//!
//! Built from the regex text of path and glob patterns (each matches the
//! whole value, so each ends in `\z` and the search is anchored). A search
//! costs the value's length plus the number of patterns that match, not
//! the number of patterns. The DFA is shared by every thread; each thread
//! takes a search cache from a pool.

use regex_automata::hybrid::dfa::{Cache, OverlappingState, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::pool::Pool;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Largest automaton one combined matcher may compile to.
const NFA_SIZE_LIMIT: usize = 8 << 20;
/// How far one search cache may grow (per thread that uses the matcher).
const CACHE_CAPACITY: usize = 1 << 20;

type CachePool = Pool<
    Cache,
    Box<dyn Fn() -> Cache + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe>,
>;

/// Memory all the combined matchers of one policy set may take together;
/// past it, groups match pattern by pattern (slower, same answers). Shared
/// by the set's plans; a matcher gives back what it took when dropped.
#[derive(Debug, Clone)]
pub(crate) struct MatcherBudget(Arc<AtomicUsize>);

/// Per policy set: enough for many plans of thousands of patterns each.
pub(crate) const MATCHER_BUDGET: usize = 256 << 20;

impl Default for MatcherBudget {
    fn default() -> Self {
        Self(Arc::new(AtomicUsize::new(MATCHER_BUDGET)))
    }
}

impl MatcherBudget {
    fn take(&self, bytes: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.0.fetch_add(bytes, Ordering::AcqRel);
    }
}

pub(crate) struct CombinedDfa {
    dfa: DFA,
    caches: CachePool,
    /// What was taken from the budget.
    charged: usize,
    budget: MatcherBudget,
}

impl fmt::Debug for CombinedDfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CombinedDfa")
            .field("patterns", &self.dfa.pattern_len())
            .finish_non_exhaustive()
    }
}

impl Drop for CombinedDfa {
    fn drop(&mut self) {
        self.budget.give_back(self.charged);
    }
}

impl CombinedDfa {
    /// One matcher for `patterns` (regex syntax, whole-value matches);
    /// `None` when it would be too big or the budget is spent, and the
    /// caller then matches pattern by pattern.
    pub(crate) fn build(patterns: &[String], budget: &MatcherBudget) -> Option<CombinedDfa> {
        if patterns.is_empty() {
            return None;
        }
        let anchored: Vec<String> = patterns.iter().map(|p| format!("(?:{p})\\z")).collect();
        let dfa = DFA::builder()
            // Byte runs for stars (see `Glob::write_regex`); every other
            // part of a pattern is still whole characters.
            .syntax(syntax::Config::new().unicode(true).utf8(false))
            // Only which patterns match is asked: no capture states, which
            // makes the automaton smaller and quicker to build.
            .thompson(
                thompson::Config::new()
                    .nfa_size_limit(Some(NFA_SIZE_LIMIT))
                    .which_captures(thompson::WhichCaptures::None),
            )
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(CACHE_CAPACITY)
                    .skip_cache_capacity_check(true),
            )
            .build_many(&anchored)
            .ok()?;
        // The automaton plus one full cache per core that may search it.
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        let charged = dfa.get_nfa().memory_usage() + CACHE_CAPACITY * threads;
        if !budget.take(charged) {
            return None;
        }
        let for_pool = dfa.clone();
        let caches: CachePool = Pool::new(Box::new(move || for_pool.create_cache()));
        Some(CombinedDfa {
            dfa,
            caches,
            charged,
            budget: budget.clone(),
        })
    }

    /// Calls `matched` with the index of each pattern that matches all of
    /// `text`, each once. `false` when the search could not finish (the
    /// caller then matches pattern by pattern).
    pub(crate) fn for_each_match(&self, text: &str, mut matched: impl FnMut(usize)) -> bool {
        let mut cache = self.caches.get();
        let input = Input::new(text).anchored(Anchored::Yes);
        let mut state = OverlappingState::start();
        loop {
            if self
                .dfa
                .try_search_overlapping_fwd(&mut cache, &input, &mut state)
                .is_err()
            {
                return false;
            }
            match state.get_match() {
                Some(m) => matched(m.pattern().as_usize()),
                None => return true,
            }
        }
    }
}
