# node-gyp's build of the same addon CMakeLists.txt builds: the prebuild's (prebuildify), and the
# fallback where cmake-js is not used. The sources come from the one native/*.cc glob; whisper.cpp's
# libraries are built by cmake through scripts/whisper-libs.mjs (shared, beside the addon, for the
# portable prebuild: hence the $ORIGIN rpath).
{
  "targets": [
    {
      "target_name": "whisper_serve",
      "sources": ["<!@(node scripts/whisper-libs.mjs --sources)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/whisper-libs.mjs --include)"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3"],
      "libraries": ["<!@(node scripts/whisper-libs.mjs --libs)"],
      "conditions": [
        ["OS=='linux'", { "ldflags": ["-Wl,-rpath,'$$ORIGIN'"] }],
        ["OS=='mac'", { "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" } }]
      ]
    }
  ]
}
