namespace Gputel.Core.Training;

/// <summary>A value that files and displays carry by its name (<see cref="object.ToString"/>), parsed back by <see cref="TryParse"/>.</summary>
/// <typeparam name="TSelf">The implementing type.</typeparam>
public interface INamedValue<TSelf>
    where TSelf : struct, INamedValue<TSelf>
{
    /// <summary>What a name may be, for the error on any other (e.g. <c>cpu, cuda or cuda:N</c>).</summary>
    static abstract string Expected { get; }

    /// <summary>The value named <paramref name="name"/>, or false.</summary>
    static abstract bool TryParse(string? name, out TSelf value);
}
