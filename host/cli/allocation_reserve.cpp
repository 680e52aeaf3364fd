#include "allocation_reserve.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace genplug::cli {
namespace {

std::atomic<void*> reserve_block{nullptr};

// The new-handler: operator new calls it when an allocation fails. Giving the reserve back and returning would
// let that allocation succeed and the command go on with nothing held back; so it fails the allocation here.
void give_back_reserve_and_fail() {
  if (void* held = reserve_block.exchange(nullptr)) std::free(held);
  throw std::bad_alloc();
}

}  // namespace

void hold_allocation_reserve(std::size_t bytes) {
  if (void* held = reserve_block.exchange(std::malloc(bytes))) std::free(held);
  std::set_new_handler(give_back_reserve_and_fail);
}

bool allocation_reserve_held() { return reserve_block.load() != nullptr; }

}  // namespace genplug::cli
