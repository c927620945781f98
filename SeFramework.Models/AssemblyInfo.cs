// Placeholder so the project builds before its first source file lands.
[assembly: System.Reflection.AssemblyMetadata("Project", "SeFramework.Models")]
