namespace MeasureApp.Bench.Load;

/// <summary>
/// A load scenario run by <c>dotnet run --project bench/MeasureApp.Bench -- load &lt;name&gt;</c>.
/// Add one by adding a public class with a parameterless constructor that implements this
/// interface; <see cref="LoadScenarios"/> finds it by <see cref="Name"/>.
/// </summary>
public interface ILoadScenario
{
    /// <summary>Name used on the command line, e.g. <c>engine-fanout</c>.</summary>
    string Name { get; }

    /// <summary>One line for <c>load list</c>.</summary>
    string Description { get; }

    /// <summary>Option help printed by <c>load &lt;name&gt; --help</c>.</summary>
    string Usage { get; }

    /// <summary>Runs the scenario; progress goes to <paramref name="progress"/>, results into the report.</summary>
    Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken);
}
