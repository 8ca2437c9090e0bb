/* Counters the layers below the server keep for its /metrics (the store's errors): one slot each,
 * placed by the server in memory its worker processes share, or a private one until it does. */
#include "base/base_int.h"

static uint64_t private_slots[SCEPLAB_TALLY_N];
static uint64_t *slots = private_slots;

void sceplab_tally(sceplab_tally_kind which)
{
  if((unsigned)which < SCEPLAB_TALLY_N)
    __atomic_fetch_add(&slots[which], 1, __ATOMIC_RELAXED);
}

void sceplab_tally_add(sceplab_tally_kind which, uint64_t n)
{
  if((unsigned)which < SCEPLAB_TALLY_N)
    __atomic_fetch_add(&slots[which], n, __ATOMIC_RELAXED);
}

void sceplab_tally_place(uint64_t *shared) { slots = shared ? shared : private_slots; }

uint64_t sceplab_tally_get(sceplab_tally_kind which)
{
  return (unsigned)which < SCEPLAB_TALLY_N ? __atomic_load_n(&slots[which], __ATOMIC_RELAXED) : 0;
}
