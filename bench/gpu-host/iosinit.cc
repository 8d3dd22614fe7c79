// std::ios_base_library_init for libstdc++ before GCC 13, which lacks it: preloaded beside a
// libLibTorchSharp.so rewritten by libstdcxx_compat.py. GCC 13's libstdc++ sets up the standard
// streams in this function's stead; older ones do it from each user's static initialisers, which
// libtorch has, so there is nothing left to do here.
namespace std {
void ios_base_library_init() {}
}
